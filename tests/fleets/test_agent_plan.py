"""The agent runs a launch plan as cloud-init would: write_files with modes, runcmd in order, exit status, stop."""

import stat

from nim_launcher.agent.fleet_plan import PlanRun


def _run(plan, tmp_path, work_id=1):
    run = PlanRun(work_id, plan, sandbox=tmp_path).start()
    run.join(30)
    return run


def test_write_files_then_runcmd_under_the_sandbox(tmp_path):
    plan = {"format": "cloud-config",
            "write_files": [{"path": "/etc/gpu-broker/agent.env", "content": "A=1\n", "permissions": "0600"}],
            "runcmd": [["sh", "-c", "cat /etc/gpu-broker/agent.env"], "echo done > /var/lib/marker"]}
    run = _run(plan, tmp_path)
    root = tmp_path / "work-1"
    assert run.report()["state"] == "running" and run.report()["exit_code"] == 0
    assert stat.S_IMODE((root / "etc/gpu-broker/agent.env").stat().st_mode) == 0o600
    assert (root / "var/lib/marker").read_text() == "done\n"
    assert "A=1" in run.report()["log"]


def test_a_failing_command_fails_the_plan_with_its_exit_status_and_the_rest_still_runs(tmp_path):
    run = _run({"format": "cloud-config", "runcmd": ["exit 3", "echo after"]}, tmp_path)
    report = run.report()
    assert report["state"] == "failed" and report["exit_code"] == 3
    assert "exit status 3" in report["log"] and "after" in report["log"]


def test_a_file_outside_the_sandbox_is_refused(tmp_path):
    run = _run({"format": "cloud-config", "write_files": [{"path": "/tmp/elsewhere", "content": "x"}]}, tmp_path)
    assert run.report()["state"] == "failed" and "outside the sandbox" in run.report()["log"]


def test_stop_ends_what_the_plan_left_running(tmp_path):
    run = _run({"format": "cloud-config", "runcmd": ["sleep 60 & echo $! > /var/pid"]}, tmp_path)
    pid = int((tmp_path / "work-1/var/pid").read_text())
    run.stop()
    assert run.report()["state"] == "stopped"
    import os
    import time
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the plan's background process survived stop")


def test_no_plan_runs_at_once(tmp_path):
    assert _run({"format": "none"}, tmp_path).report()["state"] == "running"

