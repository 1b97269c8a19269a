"""What `pip install` gives a user: one import package, `lcad`, and its public API."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                           "--no-build-isolation", "-q", "-w", str(out), str(ROOT)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (path,) = out.glob("lcad-*.whl")
    return path


def test_wheel_holds_only_the_lcad_package(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"lcad", wheel.name.split("-py3")[0]
                                                + ".dist-info"}
    for folder in ("models", "training", "service"):  # every module, subpackages too
        for module in (ROOT / folder).rglob("*.py"):
            rel = module.relative_to(ROOT).as_posix()
            assert f"lcad/{rel}" in names, f"lcad/{rel} is not in the wheel"
    assert "lcad/training/data/kepler_demo.csv" in names  # the demo's data ships
    assert "lcad/service/static/swagger/swagger-ui-bundle.js" in names  # /docs offline
    assert "lcad/service/static/ui/viewer.js" in names  # /ui offline (plotly: its package)
    assert not [n for n in names if "/tests/" in n or n.startswith(("lcad/bench", "bench"))]


def test_fresh_venv_gets_only_lcad_at_the_top_of_site_packages(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    where = [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
    site = subprocess.run(where, capture_output=True, text=True, check=True).stdout.strip()
    before = set(__import__("os").listdir(site))
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                    str(wheel)], check=True, timeout=300)
    added = set(__import__("os").listdir(site)) - before
    assert {a for a in added if not a.endswith(".dist-info")} == {"lcad"}
    assert [a for a in added if a.endswith(".dist-info")] == [wheel.name.split("-py3")[0]
                                                               + ".dist-info"]
    # the version comes from the package metadata; no git runs in site-packages
    code = "import lcad, lcad._meta as m; print(lcad.__version__, m.git_commit())"
    out = subprocess.run([str(py), "-c", code], capture_output=True, text=True, check=True,
                         cwd=tmp_path, timeout=60).stdout.split()
    assert out == ["0.1.0", "unknown"]


def test_a_users_own_models_package_does_not_shadow_lcad(tmp_path):
    """Most ML repositories have a `models/` folder; `lcad` must not care."""
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "__init__.py").write_text("raise ImportError('the user models')\n")
    (tmp_path / "training.py").write_text("raise ImportError('the user training')\n")
    code = ("from lcad.models.config import DetectorConfig; import lcad.models.io; "
            "import lcad.service.settings; print(DetectorConfig().preprocess.window)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().isdigit()


def test_public_api_fits_and_scores_the_bundled_demo_data(tmp_path):
    """`import lcad` is all a user needs: read, fit, score, save and load."""
    code = (
        "import lcad\n"
        "from lcad.training.demo import DEMO_DATA\n"
        "curves = lcad.read_curves(DEMO_DATA)\n"
        "det = lcad.Detector.fit(curves, preprocess={'window': 32},\n"
        "                        model={'hidden': [32], 'latent': 4}, train={'epochs': 2})\n"
        "assert isinstance(det, lcad.Detector) and det.metrics['epochs_run'] == 2\n"
        "res = det.score(curves)\n"
        "assert isinstance(res, lcad.ScoreResult) and len(res) == len(curves)\n"
        "det.save('bundle'); again = lcad.Detector.load('bundle').score(curves)\n"
        "assert again.to_frame()['score'].equals(res.to_frame()['score'])\n"
        "print(lcad.__version__, len(curves), det.config.preprocess.window)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split()[0] == "0.1.0" and proc.stdout.split()[-1] == "32"


def test_import_lcad_is_cheap_and_names_what_it_offers():
    code = ("import sys, lcad; print('keras' in sys.modules, sorted(lcad.__all__)); "
            "lcad.nope")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.stdout.startswith("False ['Detector', 'DetectorConfig', 'LightCurve', "
                                  "'ScoreResult', '__version__', 'read_curves']")
    assert "module 'lcad' has no attribute 'nope'" in proc.stderr


def test_fit_overrides_by_section_name_the_unknown():
    from lcad.models.config import DetectorConfig
    from lcad.models.errors import ConfigError

    cfg = DetectorConfig().with_sections({"train": {"epochs": 3}})
    assert cfg.train.epochs == 3 and cfg.model == DetectorConfig().model
    with pytest.raises(ConfigError, match="unknown config section 'trian'"):
        DetectorConfig().with_sections({"trian": {"epochs": 3}})
    with pytest.raises(ConfigError, match="epoch"):
        DetectorConfig().with_sections({"train": {"epoch": 3}})
