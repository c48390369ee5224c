"""What a command handler gets: its parsed options, the API client, progress and the clock."""

import argparse
import time

from broker.cli.config import resolve_config
from broker.cli.http import ApiClient
from broker.cli.progress import Progress


class Context:
    # Class attributes so tests can control time without sleeping.
    sleep = staticmethod(time.sleep)
    clock = staticmethod(time.monotonic)

    def __init__(self, args: argparse.Namespace, progress: Progress | None = None):
        self.args = args
        self.progress = progress or Progress()
        self._client: ApiClient | None = None

    @property
    def json(self) -> bool:
        return bool(getattr(self.args, "json", False))

    def client(self) -> ApiClient:
        if self._client is None:
            config = resolve_config(url_flag=self.args.url, key_flag=self.args.api_key)
            self._client = ApiClient(config.url, config.api_key, max_retries=self.args.retries,
                                     sleep=self.sleep, notify=self.progress.note)
        return self._client
