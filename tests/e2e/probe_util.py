"""Helpers of the reliability-probe tests: the one-line error check and the files a refused command must leave."""
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WORDS = ["good", "bad", "fine", "dull", "bright", "grim"]


def _err(capsys) -> str:
    return capsys.readouterr().err.strip()


def _one_line(capsys, code: int, *needles: str) -> str:
    err = _err(capsys)
    assert code == 2, err
    assert len(err.splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err
    return err


def _tree(folder: Path) -> dict:
    """{relative path: bytes} of every file under ``folder``: what must survive a refused command."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}



def _user_folder(root: Path) -> Path:
    (root / "photos").mkdir(parents=True)
    (root / "thesis.txt").write_text("notes")
    (root / "photos" / "a.jpg").write_bytes(b"\xff\xd8")
    return root
