"""`python -m broker.cli` runs `brokerctl`."""

from broker.cli.main import main

raise SystemExit(main())
