"""`dvc plots show` writes a page that needs no network: the project's .dvc/config points DVC at
a template with Vega, Vega-Lite and Vega-Embed inlined (.dvc/plots/build.sh makes it), where
DVC's own page loads them from a CDN. Checked on the real `dvc` in a scratch repository."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from configobj import ConfigObj

REPO = Path(__file__).resolve().parents[1]
PINS = re.compile(r'^\s*"(vega|vega-lite|vega-embed) (\d+\.\d+\.\d+) ', re.MULTILINE)


def test_plots_page_inlines_vega(tmp_path: Path) -> None:
    template = ConfigObj(str(REPO / ".dvc" / "config"))["plots"]["html_template"]
    assert not os.path.isabs(template)  # relative to .dvc/, so a fresh clone finds it

    root = tmp_path / "repo"
    root.mkdir()
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    env.pop("DVC_ROOT", None)

    def run(*args: str) -> None:
        done = subprocess.run(args, cwd=root, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{args}: {done.stdout}{done.stderr}"

    dvc = str(Path(sys.executable).with_name("dvc"))
    run("git", "init", "-q")
    run(dvc, "init", "-q")
    # The project's own DVC settings and template, at the same paths as in a clone.
    shutil.copy(REPO / ".dvc" / "config", root / ".dvc" / "config")
    (root / ".dvc" / template).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / ".dvc" / template, root / ".dvc" / template)
    (root / "history.csv").write_text("epoch,loss\n0,1.0\n1,0.5\n2,0.25\n")
    (root / "dvc.yaml").write_text(
        "plots:\n  - Loss:\n      x: epoch\n      y:\n        history.csv: loss\n"
    )

    run(dvc, "plots", "show")

    page = (root / "dvc_plots" / "index.html").read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]*\ssrc\s*=\s*[\"']?(https?:)?//", page, re.IGNORECASE)
    assert "cdn.jsdelivr.net" not in page
    assert "{plot_divs}" not in page and "{refresh_tag}" not in page
    assert "vegaEmbed('#" in page  # the plot's own div, filled in by DVC
    # The browser looks for the charset in the first 1024 bytes; the inlined code is not ASCII.
    assert '<meta charset="utf-8">' in page[:1024]
    pins = PINS.findall((REPO / ".dvc" / "plots" / "build.sh").read_text())
    assert {name for name, _ in pins} == {"vega", "vega-lite", "vega-embed"}
    for name, version in pins:  # each library inlined, at the version that build.sh pins
        assert f"<script>/* {name}@{version} " in page
    # The inlined code reaches the page whole (DVC's placeholder substitution leaves it alone).
    code = (root / ".dvc" / template).read_text(encoding="utf-8")
    code = code[code.index("<script>") : code.rindex("</script>")]
    assert len(code) > 500_000 and "vegaEmbed" in code and code in page
