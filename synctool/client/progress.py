"""Progress bars for the command line (tqdm on a terminal, nothing otherwise)."""

from synctool.result import Progress


class ProgressBars:
    """One tqdm bar per stage and model, fed by ``Client.sync(progress=...)``."""

    def __init__(self, enabled: bool, stream):
        self.enabled = enabled
        self.stream = stream
        self.bars: dict[tuple[str, str], object] = {}
        self._tqdm = None
        if enabled:
            try:
                from tqdm import tqdm
            except ImportError:  # tqdm is the optional "progress" extra
                self.enabled = False
            else:
                self._tqdm = tqdm

    def update(self, event: Progress) -> None:
        if not self.enabled:
            return
        key = (event.stage, event.model)
        bar = self.bars.get(key)
        if bar is None:
            unit = "file" if event.stage == "media" else "obj"
            bar = self._tqdm(
                desc=f"{event.stage} {event.model}",
                unit=unit,
                file=self.stream,
                leave=True,
                dynamic_ncols=True,
            )
            self.bars[key] = bar
        bar.update(event.count - bar.n)
        if event.bytes_received:
            bar.set_postfix_str(f"{event.bytes_received / 1e6:.1f} MB", refresh=False)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        for bar in self.bars.values():
            bar.close()
        return False
