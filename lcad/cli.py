"""`lcad`: train, score, evaluate, sweep, demo and serve from the command line."""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # errors too: "failed call to cuInit" on CPU

EXIT_USAGE = 2
# the residuals' scatter where the reconstruction is steepest (deepest) over where it is
# flat (at its level) from which `lcad train` says so
SCATTER_NOTE = 1.5


class CliError(Exception):
    """A user-facing error: printed without a traceback, exit code 2."""


def _registry_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--register-as", metavar="NAME", help="register the model under NAME")
    p.add_argument("--promote", action="store_true", help="move the 'champion' alias to it")


# what a user looks for in a series, as the point score that finds it (`--look-for`)
LOOK_FOR = {"auto": "auto", "events": "scan", "shapes": "novelty"}
ASKED = [word for word in LOOK_FOR if word != "auto"]  # what a trained model can be asked


def _look_for_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--look-for", choices=list(LOOK_FOR), default=None,
        help="what counts as an anomaly in a series: events added to it (flares, dips, "
        "transits, spikes: the residual scan, scoring.point=scan), shapes and regimes that "
        "changed (a distorted cycle, a new pattern: novelty, scoring.point=novelty), or auto "
        "(default: the scan where the held-out residuals are white, novelty where they are "
        "structured). Data without its anomalies cannot tell which you want "
        "(docs/quality.md)")


def _ask_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--look-for", choices=ASKED, default=None,
        help="ask the model for the point score that finds events added to a series "
        "(flares, dips, transits: the residual scan) or shapes and regimes that changed "
        "(novelty), instead of the one it was trained with. A model trained with auto that "
        "chose novelty, or with --look-for shapes, can be asked for both; one that scores "
        "the scan has no training windows for novelty (`lcad train --look-for shapes`). "
        "GET /v1/model's look_for lists what a model can be asked")


def _asked(det: Any, look_for: str | None) -> Any:
    """`det` asked for `look_for` (`Detector.looking_for`), the point score said."""
    if look_for is None:
        return det
    asked = det.looking_for(look_for)
    if asked is not det:
        print(f"point score: {asked.info.point_score_reason}")
    else:
        print(f"point score: the model's own, {det.point_method} (it looks for {look_for})")
    return asked


def _with_look_for(args: argparse.Namespace) -> list[str]:
    """`--set` overrides with `--look-for`'s point score added; both naming one: refused."""
    if args.look_for is None:
        return list(args.overrides)
    point = LOOK_FOR[args.look_for]
    given = [o.partition("=")[2].strip() for o in args.overrides
             if o.partition("=")[0].strip() == "scoring.point"]
    if any(g != point for g in given):
        raise CliError(f"--look-for {args.look_for} means scoring.point={point}, but --set "
                       f"scoring.point={given[-1]} was given too: keep one of them")
    return [*args.overrides, f"scoring.point={point}"]


def _run_flags(p: argparse.ArgumentParser, output: str) -> None:
    """Where a training run writes and how it is tracked (`train`, `finetune`)."""
    p.add_argument("--output", type=Path, default=Path(output),
                   help=f"bundle directory (default: {output})")
    p.add_argument("--experiment", default="lcad", help="MLflow experiment name")
    p.add_argument("--run-name", help="MLflow run name")
    _registry_flags(p)
    p.add_argument("--no-tracking", action="store_true", help="do not log to MLflow")


def _check_tracking(args: argparse.Namespace) -> None:
    """The tracked-run flags agree, and an HTTP tracking server answers, before any work."""
    if args.promote and not args.register_as:
        raise CliError("--promote needs --register-as NAME")
    if args.register_as and args.no_tracking:
        raise CliError("--register-as needs tracking (drop --no-tracking)")
    if not args.no_tracking:
        from lcad.registry import check_tracking, tracking_uri

        check_tracking(tracking_uri())


def _scoring_flags(p: argparse.ArgumentParser, batch_help: str) -> None:
    p.add_argument("--threshold", type=float, help="point-score threshold (default: calibrated)")
    p.add_argument("--batch-objects", type=_at_least(1), default=256, help=batch_help)
    p.add_argument("--segment-points", type=_at_least(1000), default=200_000,
                   help="longer series are scored in overlapping segments of this many points")


def _column_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("columns (default: recognised by common names)")
    for role in ("object-id", "time", "flux", "flux-err", "band"):
        g.add_argument(f"--{role}-column", dest=f"col_{role.replace('-', '_')}", metavar="NAME")
    g.add_argument("--unit", choices=["auto", "flux", "mag"], default="auto",
                   help="flux or magnitudes (auto: magnitudes when the column is named mag)")


def _columns(args: argparse.Namespace) -> dict[str, str | None]:
    return {role: getattr(args, f"col_{role}") for role in
            ("object_id", "time", "flux", "flux_err", "band")}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lcad", description="Light-curve anomaly detection with dense autoencoders.")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show other libraries' messages too (TensorFlow start-up, MLflow "
                        "INFO, their warnings, download bars); LCAD_VERBOSE=1 does the same")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser("train", help="train a detector, track it in MLflow, write the bundle")
    t.add_argument("--data", required=True, help="CSV/Parquet/FITS file or directory")
    t.add_argument("--config", type=Path, help="YAML config (sections preprocess, model, ...)")
    t.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set model.latent=16 (repeatable)")
    t.add_argument("--window", type=int, help="shortcut for --set preprocess.window=N")
    _look_for_flag(t)
    _run_flags(t, "lcad-output/model")
    t.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    t.add_argument("--processes", type=_at_least(1), default=None, metavar="N",
                   help="train data-parallel in N processes on this machine (JAX backend, "
                   "keras.distribution.DataParallel; the same loss curve as one process)")
    _column_flags(t)

    f = sub.add_parser("finetune", help="transfer learning: start from a trained model's "
                       "weights, train on new data, recalibrate; the lineage in MLflow")
    f.add_argument("--from", "--model", dest="parent", required=True, metavar="MODEL",
                   help="the model to start from: bundle path or models:/name@alias, runs:/... "
                   "(--model, as score and evaluate name it, works too)")
    f.add_argument("--data", required=True, help="the new curves (CSV/Parquet/FITS)")
    f.add_argument("--encoder", choices=["frozen", "tuned"], default="tuned",
                   help="tuned (default): every weight trains, at the parent's learning rate "
                   "x --lr-scale; frozen: only the decoder learns the new data (measured in "
                   "docs/quality-log.md: tuned was level or better on 5 of 6 held-out series)")
    f.add_argument("--lr-scale", type=float, default=0.1,
                   help="learning-rate factor when the encoder is tuned (default 0.1)")
    f.add_argument("--epochs", type=_at_least(1), default=None,
                   help="training epochs (default: the parent's)")
    f.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a train.* or scoring.* key (the network's shape is the "
                   "parent's)")
    _look_for_flag(f)
    _run_flags(f, "lcad-output/finetuned")
    _column_flags(f)

    g = sub.add_parser("log-run", help="log a trained bundle to MLflow (what training could "
                       "not log: the run is continued, or a new one made)")
    g.add_argument("bundle", type=Path, help="bundle directory written by `lcad train`")
    g.add_argument("--experiment", default="lcad", help="MLflow experiment of a new run")
    _registry_flags(g)

    s = sub.add_parser("score", help="score light curves: per-point table + per-object summary")
    s.add_argument("--model", required=True, help="bundle path or models:/name@alias, runs:/...")
    s.add_argument("--data", required=True)
    s.add_argument("--output", type=Path, default=None,
                   help="FILE.csv or FILE.parquet: the points; FILE.objects.* and "
                        "FILE.intervals.* beside it (default: lcad-output/scores/ and the "
                        "data's name, Parquet for Parquet data, else CSV)")
    _scoring_flags(s, "objects scored per chunk")
    _ask_flag(s)
    s.add_argument("--samples", type=_at_least(2), default=0, metavar="N",
                   help="also the mean and spread of every score over N random passes of the "
                   "network (Monte-Carlo dropout, the variational posterior): columns "
                   "score_mean, score_std; costs about N scorings")
    s.add_argument("--workers", type=_at_least(1), default=None,
                   help="chunks (object groups, segments) scored at once (default: the cores "
                        "plus one, at most 4; one for survey (whole-curve) models, whose "
                        "threads only contend)")
    s.add_argument("--processes", type=_at_least(1), default=None, metavar="N",
                   help="score the object chunks in N processes, each loading the model once "
                        "(seconds each): for many objects, e.g. survey catalogues, on N cores "
                        "(docs/benchmarks.md); curves scored in segments stay in one. Default: "
                        "one a core for a survey model and 4M or more input rows, else one")
    _column_flags(s)

    k = sub.add_parser("spark-score", help="score a Parquet dataset on Spark: points, objects, "
                       "intervals and skipped tables as Parquet (same numbers as `lcad score`)")
    k.add_argument("--model", required=True, help="bundle path or models:/name@alias, runs:/...")
    k.add_argument("--data", required=True,
                   help="Parquet file or dataset (a folder, a glob, or an hdfs:// s3a:// URI)")
    k.add_argument("--output", required=True,
                   help="folder for the points/, objects/, intervals/ and skipped/ Parquet "
                        "datasets")
    k.add_argument("--master", help="Spark master, e.g. local[2] (default: spark-submit's "
                   "--master, else local[*])")
    k.add_argument("--partitions", type=_at_least(1), default=None,
                   help="partitions of the objects (default: 4 per core of the session)")
    _scoring_flags(k, "objects scored per network call in a task")
    _ask_flag(k)
    k.add_argument("--overwrite", action="store_true", help="replace earlier results")
    _column_flags(k)

    e = sub.add_parser("evaluate", help="metrics against labels, optionally beside baselines")
    e.add_argument("--model", required=True)
    e.add_argument("--data", required=True)
    e.add_argument("--labels", type=Path,
                   help="CSV: object_id,start,end (events) | object_id,time,label (points) | "
                        "object_id,label (objects), times as numbers or datetimes (one "
                        "series: no object_id needed); NAB's "
                        "combined_windows.json / combined_labels.json; not needed for UCR "
                        "anomaly archive files (their names give the anomaly)")
    e.add_argument("--far", type=float, default=0.01, help="false-alarm rate for event recall")
    e.add_argument("--baselines", action="store_true",
                   help="also score Isolation Forest and PCA on the same windows, and the "
                        "matrix profile with the same window (against the training part "
                        "of a UCR archive file; a self-join otherwise)")
    _ask_flag(e)
    e.add_argument("--output", type=Path, help="write the metrics as JSON here")
    e.add_argument("--experiment", default="lcad-evaluate",
                   help="MLflow experiment of the evaluation run (metrics eval.*, as the demo "
                   "and sweep name them; tagged with the evaluated model's training run)")
    e.add_argument("--no-tracking", action="store_true", help="do not log to MLflow")
    _column_flags(e)

    w = sub.add_parser("sweep", help="grid, random or coarse-to-fine search as nested MLflow "
                       "runs; the best model saved, logged and (when asked) registered")
    w.add_argument("--config", required=True, type=Path, help="sweep YAML")
    w.add_argument("--trials", type=_at_least(1), default=None,
                   help="number of trials (random; coarse-to-fine: of the coarse stage)")
    w.add_argument("--output", type=Path, default=None,
                   help="bundle directory of the best model (default: lcad-output/sweep-RUN)")
    _registry_flags(w)

    v = sub.add_parser("serve", help="start the scoring service (uvicorn)")
    v.add_argument("--model", help="bundle path or MLflow URI (default: $LCAD_MODEL_URI)")
    v.add_argument("--host", default=os.environ.get("LCAD_HOST", "127.0.0.1"),
                   help="default: $LCAD_HOST or 127.0.0.1")
    v.add_argument("--port", type=int, default=int(os.environ.get("LCAD_PORT", "8000")),
                   help="default: $LCAD_PORT or 8000")
    v.add_argument("--workers", type=int, default=int(os.environ.get("LCAD_WORKERS", "1")),
                   help="processes, each loads the model (default: $LCAD_WORKERS or 1)")
    v.add_argument("--log-level", default="info")
    v.add_argument("--backend", choices=["tensorflow", "jax", "auto"],
                   default=os.environ.get("LCAD_BACKEND") or None,
                   help="Keras backend of the server (default: $LCAD_BACKEND, else Keras' own "
                   "default, TensorFlow). jax is ready a few seconds sooner on CPU; auto: jax "
                   "when it is installed (the CPU image), else tensorflow (the GPU image)")

    v.add_argument("--look-for", choices=ASKED,
                   default=os.environ.get("LCAD_LOOK_FOR") or None,
                   help="the point score the model answers with unless a request asks "
                   "otherwise (/v1/score's look_for): events (the residual scan) or shapes "
                   "(novelty); default: $LCAD_LOOK_FOR, else the model's own")
    v.add_argument("--catalogue", metavar="DATA", default=os.environ.get("LCAD_CATALOGUE"),
                   help="light curves to score at start-up and show in the viewer (/ui): "
                   "ranked, with neighbours and labels (default: $LCAD_CATALOGUE)")
    v.add_argument("--labels", metavar="FILE", default=os.environ.get("LCAD_LABELS_PATH"),
                   help="SQLite file for the catalogue's labels (default: "
                   "DATA's folder/<name>.labels.db)")

    m = sub.add_parser("similar", help="nearest catalogue objects in the model's latent space")
    m.add_argument("--model", required=True, help="bundle path or models:/name@alias, runs:/...")
    m.add_argument("--catalogue", required=True, metavar="DATA",
                   help="light curves to search among (scored with the model)")
    m.add_argument("--data", required=True, help="light curves whose neighbours to find")
    m.add_argument("-k", type=_at_least(1), default=5, help="neighbours per curve (default 5)")
    m.add_argument("--output", type=Path, help="also write the table (FILE.csv or FILE.parquet)")
    _column_flags(m)

    d = sub.add_parser("demo", help="train, evaluate and register on the bundled data")
    d.add_argument("--output", type=Path, default=Path("lcad-output/demo-model"))
    d.add_argument("--epochs", type=int, default=None, help="override the demo's epochs")
    d.add_argument("--register-as", default="lcad")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verbose:
        os.environ["LCAD_VERBOSE"] = "1"
    verbose = os.environ.get("LCAD_VERBOSE") == "1"
    if argv is None and args.command != "serve":  # the `lcad` program itself, not a caller
        from lcad._stderr import filter_stderr

        filter_stderr()
        if not verbose:
            quiet_libraries()
    from lcad.models.errors import LcadError

    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        handler = globals()[f"cmd_{args.command.replace('-', '_')}"]
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning if verbose else _show_lcad_warning
            return int(handler(args) or 0)
    except (CliError, LcadError) as exc:
        print(f"lcad {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"lcad {args.command}: interrupted", file=sys.stderr)
        return 130


def quiet_libraries() -> None:
    """Other libraries' chatter off the terminal of `lcad` commands (not `serve`, whose log is
    the server's): MLflow INFO lines and its artifact download bars. A user's own setting of
    these variables wins."""
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import logging

    logging.getLogger("mlflow").setLevel(os.environ["MLFLOW_LOGGING_LEVEL"])
    for name in ("tensorflow", "absl"):  # TF's Python-side notices (retracing, ...)
        logging.getLogger(name).setLevel(logging.ERROR)


def _show_lcad_warning(message: Warning | str, category: type[Warning], filename: str,
                       lineno: int, file: Any = None, line: str | None = None) -> None:
    """Without --verbose only lcad's own warnings reach the terminal (other libraries' --
    MLflow's dataset-source notice, Keras' retracing notes -- are about their internals)."""
    if category.__module__.startswith("lcad."):
        _show_warning(message, category, filename, lineno, file, line)


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: Any = None, line: str | None = None) -> None:
    """lcad's own warnings as one `warning: ...` line; other libraries' as Python shows them."""
    if category.__module__.startswith("lcad."):
        kind = "note" if category.__name__ == "FitNote" else "warning"
        print(f"{kind}: {message}", file=sys.stderr)
    else:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


# ---- commands ------------------------------------------------------------------------------
def load_config(path: Path | None, overrides: list[str], window: int | None) -> Any:
    from lcad.models.config import DetectorConfig

    if path is not None:
        if not path.is_file():
            raise CliError(f"config file {path} not found")
        cfg = DetectorConfig.from_yaml(path.read_text())
    else:
        cfg = DetectorConfig()
    if window is not None:
        overrides = [*overrides, f"preprocess.window={window}"]
    return cfg.with_overrides(overrides) if overrides else cfg


def _read(args: argparse.Namespace, part: str | None = None) -> list[Any]:
    """The curves of --data; `part` "train": of UCR anomaly archive files, only the training
    part their names give (`io.ucr_split`), said in one line."""
    from lcad.models.io import read_curves, summarize_repairs

    _say_columns(args)
    curves = read_curves(args.data, _columns(args), args.unit, part=part)
    if not curves:
        raise CliError(f"{args.data}: no light curves found")
    if part:
        _say_ucr(args.data, part)
    _report_repairs(summarize_repairs(curves))
    return curves


UCR_PARTS = {"train": "training on the training part",
             "evaluate": "scoring every row, the metrics on the points after the training part",
             None: "scoring every row (`lcad evaluate` counts the points after the training "
                   "part)"}


def _say_ucr(data: Any, use: str | None) -> None:
    """One line for UCR anomaly archive files under `data`: what their names give and what
    the command does with them (UCR_PARTS: "train", "evaluate", None for score)."""
    from lcad.models.io import data_files, ucr_split

    splits = [(f, s) for f in data_files(data) if (s := ucr_split(f)) is not None]
    if not splits:
        return
    f, first = splits[0]
    more = f" ({len(splits)} files; the first: {f.name})" if len(splits) > 1 else ""
    print(f"UCR anomaly archive file{more}: {first.describe()}; {UCR_PARTS[use]}", flush=True)


def _say_columns(args: argparse.Namespace) -> None:
    """Which column each role is read from (the first table of --data)."""
    from lcad.models.io import column_summary

    line = column_summary(args.data, _columns(args), args.unit)
    if line:
        print(line, flush=True)


def _report_repairs(repairs: list[str]) -> None:
    """One line: how many curves were repaired, and the first few repairs."""
    if repairs:
        print(f"repaired {len(repairs)} curve(s): " + " | ".join(repairs[:5])
              + (" ..." if len(repairs) > 5 else ""), file=sys.stderr)


def _exists(*paths: tuple[str, Any]) -> None:
    """A missing input is named at once, before pandas, Keras or MLflow load (seconds)."""
    for flag, path in paths:
        if path is not None and not Path(path).exists():
            raise CliError(f"{path}: no such file or directory ({flag})")


def cmd_train(args: argparse.Namespace) -> int:
    _exists(("--data", args.data), ("--config", args.config))
    args.overrides = _with_look_for(args)
    cfg = load_config(args.config, args.overrides, args.window)
    _check_tracking(args)
    from lcad.training import distributed

    if args.processes:
        if args.resume:
            raise CliError("--resume continues a one-process run: drop --processes")
        return distributed.launch(_without_processes(args.argv), args.processes)
    rank, processes = distributed.join() if distributed.in_cluster() else (0, 1)
    curves = _read(args, "train") if rank == 0 else _quietly(_read, args, "train")
    from lcad.training.train import TrainRequest, run_training

    lead = rank == 0  # the others train their share and write nothing
    outcome = run_training(TrainRequest(
        cfg=cfg, curves=curves, data_source=str(args.data), experiment=args.experiment,
        output=args.output if lead else Path(tempfile.mkdtemp(prefix="lcad-rank-")) / "model",
        register_as=args.register_as if lead else None, promote=args.promote and lead,
        resume=args.resume, tracking=not args.no_tracking and lead, run_name=args.run_name,
        progress=lead, processes=processes))
    if lead:
        _report_training(outcome)
        _note_whole_curves(args.look_for, outcome.detector)
    return 0


def _note_whole_curves(look_for: str | None, det: Any) -> None:
    """`--look-for` on whole survey curves: what it changes there, and what it does not."""
    if look_for not in (None, "auto") and det.whole_curves:
        print(f"note: --look-for {look_for} sets the point score inside each curve; whole "
              "survey curves are ranked by the object model (their light-curve features) "
              "either way")


def cmd_finetune(args: argparse.Namespace) -> int:
    _exists(("--data", args.data))
    from lcad.models.fit import check_finetune_args, finetune_config, warm_start
    from lcad.models.point_scores import residuals_structured

    args.overrides = _with_look_for(args)
    check_finetune_args(args.encoder, args.lr_scale, args.overrides)
    _check_tracking(args)
    curves = _read(args, "train")
    parent = load_detector(args.parent)
    from lcad.registry import registry_meta
    from lcad.training.train import TrainRequest, run_training

    cfg = finetune_config(parent, encoder=args.encoder, lr_scale=args.lr_scale,
                          epochs=args.epochs, overrides=args.overrides)
    meta = registry_meta(args.parent) if args.parent.startswith("models:/") else {}
    lineage = {"lcad.parent.model": args.parent, "lcad.parent.encoder": args.encoder,
               "lcad.parent.name": meta.get("name") or parent.info.name or "",
               "lcad.parent.version": meta.get("version") or parent.info.version or "",
               "lcad.parent.run_id": meta.get("run_id") or parent.info.run_id or ""}
    known = ", ".join(f"{k.split('.')[-1]} {v}" for k, v in lineage.items()
                      if v and k.split(".")[-1] in ("name", "version", "run_id"))
    print(f"fine-tuning {args.parent} ({args.encoder} encoder)"
          + (f": {known}" if known else ""))
    inherited = cfg.scoring.point != parent.config.scoring.point and not any(
        o.startswith("scoring.point=") for o in args.overrides)
    if inherited:
        print(f"point score: {cfg.scoring.point}, as the parent chose it (--set "
              "scoring.point=auto chooses again on the new data)")
    outcome = run_training(TrainRequest(
        cfg=cfg, curves=curves, data_source=str(args.data), experiment=args.experiment,
        output=args.output, register_as=args.register_as, promote=args.promote,
        tracking=not args.no_tracking, run_name=args.run_name,
        initial_model=warm_start(parent, freeze_encoder=args.encoder == "frozen"),
        preprocessor=parent.preprocessor,
        tags={k: v for k, v in lineage.items() if v}))
    _report_training(outcome)
    _note_whole_curves(args.look_for, outcome.detector)
    lag1 = outcome.detector.calibration.residual_lag1 if outcome.detector.calibration else None
    if inherited and cfg.scoring.point == "scan" and residuals_structured(lag1):
        print(f"note: the new data's held-out residuals are not white (lag-1 {lag1:.2f}); "
              "the parent's scan was kept: if the new series really is structured (not a "
              "short stretch of one), retrain with --set scoring.point=auto", file=sys.stderr)
    return 0


def _without_processes(argv: list[str]) -> list[str]:
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--processes":
            skip = True
        elif not a.startswith("--processes="):
            out.append(a)
    return out


def _quietly(fn: Any, *args: Any) -> Any:
    with contextlib.redirect_stderr(io.StringIO()):
        return fn(*args)


def cmd_log_run(args: argparse.Namespace) -> int:
    from lcad.training.logrun import log_run

    if args.promote and not args.register_as:
        raise CliError("--promote needs --register-as NAME")
    res = log_run(args.bundle, args.experiment, args.register_as, args.promote)
    verb = "continued" if res["continued"] else "created"
    print(f"mlflow run {res['run_id']} ({verb}): {res['params']} param(s), {res['epochs']} "
          f"epoch(s), {res['metrics']} final metric(s) added; model "
          f"{'logged' if res['model'] else 'already logged'}")
    for key in ("registered_model", "version", "model_uri"):
        if key in res:
            print(f"{key}: {res[key]}")
    return 0


def _report_training(outcome: Any) -> None:
    from lcad.models.fit import MIN_SLIDING_WINDOWS

    m, det = outcome.metrics, outcome.detector
    why = ""
    if "grid_coverage" in m:
        why = f" (a typical curve fills {m['grid_coverage']:.0%} of its cadence grid"
        if det.whole_curves and m["grid_coverage"] >= det.config.preprocess.min_valid_fraction:
            # resolve_mode: dense enough to slide, too short for that many windows
            why += (f" but spans fewer than {MIN_SLIDING_WINDOWS} windows of it: each curve "
                    "is one object")
        why += ")"
    if "window_period" in m:
        # the scan's rule trains its longer windows with the scan set; novelty's leaves the
        # point score to be chosen again there (it may then be the scan)
        scan = det.config.scoring.point == "scan"
        rule = "preprocess.window_from_period" + ("_scan" if scan else "")
        keep = (f"--window N with --set {rule}=false sets one" if scan
                else "--window N sets one")
        period = m.get("training_period", m["window_period"])
        cycles = round(m["window_period"] / period)
        if cycles >= 1 and cycles * period == m["window_period"]:
            what = "one period" if cycles == 1 else f"{cycles} periods"
            why += (f"; the window is {what} of the training series ({m['window_period']:.0f} "
                    f"grid points: {rule}; {keep})")
        else:  # the scan's windows capped (`preprocess.scan_period_max`)
            why += (f"; the window is {m['window_period']:.0f} grid points, the most "
                    f"preprocess.scan_period_max allows of the training series' "
                    f"{det.config.preprocess.scan_period_cycles} x {period:.0f}-point periods "
                    f"({rule}; {keep})")
    print(f"representation: {det.representation}{why}")
    if not det.whole_curves and det.info.point_score_reason:
        print(f"point score: {det.info.point_score_reason}")
    if "objects.val_r2" in m:
        print(f"object model: {m['objects.n_features']:.0f} features of "
              f"{m['objects.n_train']:.0f} training objects, {m['objects.epochs_run']:.0f} "
              f"epochs, held-out reconstruction R^2 {m['objects.val_r2']:.2f}")
    learned = det.info.autoencoder
    if learned.get("verdict"):
        print(f"autoencoder: {learned['verdict']}",
              file=sys.stdout if learned.get("status") == "learned" else sys.stderr)
    if m.get("scan_baseline"):
        length = int(m["scan_baseline"])
        print(f"scan: the held-out residuals are red at {length} grid points (their "
              f"{length}-point means vary {m['residual_red']:.1f} x as much as white noise's): "
              f"runs are tested against their running median over {length} points "
              f"(scoring.scan_baseline; =0 turns it off)")
    gains = [f"{m[f'residual_{k}_gain']:.1f} x as much where the reconstruction is {word}"
             for k, word in (("slope", "steepest"), ("depth", "deepest"))
             if m.get(f"residual_{k}_gain", 1.0) >= SCATTER_NOTE]
    if gains:
        print(f"scan: the held-out residuals scatter {', and '.join(gains)} as where it is "
              f"flat: each point's residual is weighed against the scatter expected there "
              f"(scoring.scan_scatter; =0 turns it off)")
    for factor, view in sorted(learned.get("views", {}).items(), key=lambda kv: int(kv[0])):
        print(f"autoencoder of the view averaged over {factor} grid points: {view['verdict']}")
    print(f"bundle: {outcome.bundle}")
    far = m.get("val_false_alarm_rate")
    print(f"threshold {m.get('threshold', float('nan')):.4g} | epochs {m.get('epochs_run', 0):.0f}"
          f" | {m.get('windows_per_second', 0):.0f} windows/s | validation false-alarm rate "
          + (f"{far:.4f}" if far is not None else
             "not measured (no validation window could be scored)"))
    if outcome.run_id:
        print(f"mlflow run: {outcome.run_id}")
    for key in ("registered_model", "version", "model_uri"):
        if key in outcome.logged:
            print(f"{key}: {outcome.logged[key]}")
    if outcome.not_logged:
        print("WARNING: not logged to MLflow: " + "; ".join(outcome.not_logged), file=sys.stderr)
        print(f"  the bundle at {outcome.bundle} is complete: `lcad score --model` and "
              "`lcad serve --model` use it directly", file=sys.stderr)
        print(f"  when the server is back: lcad log-run {outcome.bundle}"
              + (f" --register-as {outcome.detector.info.name}"
                 if outcome.detector.info.name else ""), file=sys.stderr)


def load_detector(uri: str) -> Any:
    from lcad.registry import load_detector as load

    return load(uri)


def _at_least(low: int) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{value} is below the minimum, {low}")
        return value

    return parse


def cmd_score(args: argparse.Namespace) -> int:
    _exists(("--data", args.data))
    if args.output is None:
        args.output = default_scores_path(args.data)
    suffix = args.output.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise CliError(f"--output must end in .csv or .parquet, not {args.output.name!r}")
    from lcad.models.io import data_files, intervals_path, objects_path

    inputs = {f.resolve() for f in data_files(args.data)}  # missing or empty: named before
    for out in (args.output, objects_path(args.output), intervals_path(args.output)):  # Keras
        if out.resolve() in inputs:
            raise CliError(f"--output {args.output} would write over the data file "
                           f"{out.resolve()}: choose another --output")
    det = _asked(load_detector(args.model), args.look_for)
    from lcad.models.uncertainty import sampling_sources
    from lcad.training.scoring import auto_processes, keep_freed_memory, score_to_file

    if det.whole_curves:
        keep_freed_memory()
    processes = args.processes
    if processes is None:
        processes, why = auto_processes(det, args.data)
        if why:
            print(why, flush=True)
    _say_columns(args)
    _say_ucr(args.data, None)
    summary = score_to_file(det, args.data, args.output, _columns(args), args.unit,
                            args.threshold, args.batch_objects, args.segment_points,
                            args.workers, args.samples, processes)
    _report_repairs(summary["repairs"])
    pcfg = det.config.preprocess
    _report_scored(args.data, summary, summary["skipped"], len(summary["skipped"]),
                   "reasons above; the output files hold headers only",
                   f"no window had {pcfg.min_valid_fraction:.0%} of its {pcfg.window} grid "
                   f"points observed (grid step {det.preprocessor.cadence:g}: a series "
                   f"sampled more than {pcfg.max_gap:g} steps apart has none). Use a model "
                   "trained at their sampling, with a smaller window or a lower "
                   "preprocess.min_valid_fraction")
    if args.samples:
        print(f"uncertainty: {args.samples} random passes of "
              f"{' and '.join(sampling_sources(det.model))} (columns score_mean, score_std)")
        if summary.get("unspread"):
            print(f"note: {summary['unspread']} object(s) scored in segments (longer than "
                  "--segment-points) have point spreads but no object-score spread; raise "
                  "--segment-points to score them whole", file=sys.stderr)
    print(f"points: {args.output}\nobjects: {summary['objects_file']}\n"
          f"intervals: {summary['intervals_file']} (start, end, peak, p-value of each)")
    _print_strongest(summary)
    return 0


def default_scores_path(data: str | Path) -> Path:
    """Where `lcad score` writes without --output: lcad-output/scores/NAME.csv|parquet, NAME
    the data's file or folder name (a glob's folder)."""
    path = Path(str(data).rstrip("/"))
    while any(ch in path.name for ch in "*?[") and path.parent != path:
        path = path.parent
    name = path.name.split(".")[0] or "scores"
    parquet = Path(str(data)).suffix.lower() == ".parquet" or (
        path.is_dir() and any(path.glob("*.parquet")))
    return Path("lcad-output") / "scores" / f"{name}.{'parquet' if parquet else 'csv'}"


def _print_strongest(summary: dict[str, Any]) -> None:
    """The objects and intervals with the smallest p-values: what to look at first."""
    top = summary.get("top_objects")
    if top is not None and summary["n_objects"] > 1 and len(top):
        print(f"most anomalous objects (of {summary['n_objects']}):")
        print(_table(top, {"object_id": "object", "score": "score", "p_value": "p-value",
                           "is_anomalous": "flagged", "n_intervals": "intervals"}))
    top = summary.get("top_intervals")
    if top is not None and len(top):
        print(f"strongest intervals (of {summary['n_intervals']}):")
        print(_table(top, {"object_id": "object", "start": "start", "end": "end",
                           "peak_time": "peak", "p_value": "p-value", "sign": "sign",
                           "n_points": "points"}))


def _table(frame: Any, columns: dict[str, str]) -> str:
    """`frame`'s `columns` as a text table under the given headers, indented."""
    shown = frame[list(columns)].rename(columns=columns)
    text = shown.to_string(index=False, float_format=lambda v: f"{v:.6g}",
                           formatters={"p-value": _p_text})
    return "\n".join("  " + line for line in text.splitlines())


def _p_text(p: float) -> str:
    """A p-value for a person: two digits; one too small for a double (0.0) as such."""
    return f"{p:.2g}" if p > 0 or p != p else "<1e-308"


def _report_scored(data: Path, summary: dict[str, Any], skipped: dict[str, str],
                   n_skipped: int, where: str, unscored_why: str) -> None:
    """What `lcad score` and `lcad spark-score` say after scoring: skipped objects (the
    first ten), the counts, the objects left without a score; no object scored is an error."""
    for oid, why in list(skipped.items())[:10]:
        print(f"skipped {oid}: {why}", file=sys.stderr)
    if summary["n_objects"] == 0:
        raise CliError(f"no object of {data} could be scored ({n_skipped} skipped; {where})")
    print(f"scored {summary['n_objects']} object(s), {summary['n_points']} point(s); "
          f"{summary['n_anomalous_objects']} anomalous object(s), {summary['n_intervals']} "
          "interval(s)" + (f"; {n_skipped} skipped" if n_skipped else ""))
    again = summary.get("training_curves", [])
    if again:
        print(f"{len(again)} of the object(s) are training curves ({', '.join(again[:3])}"
              f"{' ...' if len(again) > 3 else ''}): novelty compared each of their windows "
              "with the training windows apart from it in time (a self-join), not with "
              "itself")
    unscored = summary["unscored"]
    if unscored:
        print(f"warning: {len(unscored)} of {summary['n_objects']} object(s) have no score "
              f"(empty in the objects table): {unscored_why}; first: "
              f"{', '.join(unscored[:5])}", file=sys.stderr)


def cmd_spark_score(args: argparse.Namespace) -> int:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise CliError("pyspark is not installed: pip install 'lcad[spark]'") from None
    from lcad.training.spark import score_spark, spark_session

    summary = score_spark(args.data, args.model, args.output, spark=spark_session(args.master),
                          columns=_columns(args), unit=args.unit, threshold=args.threshold,
                          batch_objects=args.batch_objects, segment_points=args.segment_points,
                          partitions=args.partitions, overwrite=args.overwrite,
                          look_for=args.look_for)
    _report_scored(args.data, summary, summary["skipped"], summary["n_skipped"],
                   f"the first reasons above, all in {summary['tables']['skipped']}",
                   "no window had enough observed grid points")
    for table, path in summary["tables"].items():
        print(f"{table}: {path}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    _exists(("--data", args.data), ("--labels", args.labels))

    if not args.no_tracking:
        from lcad.registry import check_tracking, tracking_uri

        check_tracking(tracking_uri())
    from lcad.training.evaluate import (
        evaluate,
        format_table,
        read_labels,
        result_json,
        ucr_labels,
    )

    labels = read_labels(args.labels) if args.labels else ucr_labels(args.data)
    curves = _read(args)  # bad data is named before Keras loads
    labels = labels.for_data([c.object_id for c in curves])  # an id-less file: one series
    if labels.evaluated_from:
        _say_ucr(args.data, "evaluate")
    det = _asked(load_detector(args.model), args.look_for)
    print(f"scoring {len(curves)} curve(s), {sum(len(c) for c in curves)} point(s)"
          + (" with lcad and the baselines" if args.baselines else ""), flush=True)
    result = evaluate(det, curves, labels, far=args.far, baselines=args.baselines)
    print(format_table(result))
    if args.output:
        args.output.write_text(result_json(result))
    if not args.no_tracking:
        from lcad.training.tracking import log_evaluation

        run_id = log_evaluation(result, det, args.experiment, {
            "model": args.model, "data": str(args.data),
            "labels": str(args.labels or "the UCR file names"),
            "far": args.far, "baselines": args.baselines,
            "look_for": args.look_for or "as trained"})
        print(f"mlflow run: {run_id} (experiment {args.experiment})")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from lcad.training.sweep import run_sweep

    best = run_sweep(args.config, args.trials, progress=lambda line: print(line, flush=True),
                     register_as=args.register_as, promote=args.promote, output=args.output)
    print(f"best trial: run {best['run_id']} {best['metric']}={best['value']:.5g}")
    print(f"best config: {best['overrides']}")
    print(f"best model: {best['bundle']} (logged to the sweep's run: {best['model_uri']})"
          + (f"; registered {best['registered_model']} version {best['version']}"
             if best.get("registered_model") else ""))
    return 0


def serve_backend(choice: str | None) -> str | None:
    """The Keras backend `lcad serve` should run: None leaves Keras' own choice."""
    import importlib.util

    if choice is None:
        return None
    if choice == "auto":
        return "jax" if importlib.util.find_spec("jax") else "tensorflow"
    if importlib.util.find_spec(choice) is None:
        raise CliError(f"backend {choice} is not installed "
                       f"(pip install {'jax[cpu]' if choice == 'jax' else 'tensorflow'})")
    return choice


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    backend = serve_backend(args.backend)
    if backend:
        if "keras" in sys.modules and sys.modules["keras"].backend.backend() != backend:
            raise CliError(f"keras is already loaded with another backend than {backend}")
        os.environ["KERAS_BACKEND"] = backend  # read by Keras at import, in every worker
    if args.model:
        os.environ["LCAD_MODEL_URI"] = args.model
    if not os.environ.get("LCAD_MODEL_URI"):
        raise CliError("no model: pass --model or set LCAD_MODEL_URI")
    if args.catalogue:
        _exists(("--catalogue", Path(args.catalogue)))
        os.environ["LCAD_CATALOGUE"] = str(Path(args.catalogue).resolve())
    if args.labels:
        os.environ["LCAD_LABELS_PATH"] = str(Path(args.labels).resolve())
    if args.look_for:
        os.environ["LCAD_LOOK_FOR"] = args.look_for
    uvicorn.run("lcad.service.app:app_from_env", factory=True, host=args.host, port=args.port,
                workers=args.workers, log_level=args.log_level, timeout_graceful_shutdown=30)
    return 0


def cmd_similar(args: argparse.Namespace) -> int:
    _exists(("--catalogue", Path(args.catalogue)), ("--data", Path(args.data)))
    if args.output is not None and args.output.suffix.lower() not in (".csv", ".parquet"):
        raise CliError(f"--output must end in .csv or .parquet, not {args.output.name!r}")
    import numpy as np
    import pandas as pd

    from lcad.models.catalogue import Catalogue, embedding_of
    from lcad.models.io import read_curves

    det = load_detector(args.model)
    cat = Catalogue.build(det, read_curves(args.catalogue, _columns(args), args.unit))
    queries = _read(args)
    rows = []
    for e in det.encode(queries):
        raw = embedding_of(e.latent)
        if not np.isfinite(raw).all():
            print(f"{e.object_id}: no latent code (no window with enough valid points)",
                  file=sys.stderr)
            continue
        for rank, (oid, dist) in enumerate(cat.similar(raw, args.k, exclude=e.object_id), 1):
            s = cat.scores[cat.index(oid)]
            rows.append({"object_id": e.object_id, "rank": rank, "neighbour": oid,
                         "distance": dist, "neighbour_score": s.score,
                         "neighbour_p_value": s.p_value})
    frame = pd.DataFrame(rows, columns=["object_id", "rank", "neighbour", "distance",
                                        "neighbour_score", "neighbour_p_value"])
    print(f"catalogue: {len(cat.scores)} object(s) of {args.catalogue}, scored by the model; "
          f"distances in its latent space ({det.embedding_dim} dimensions, each scaled by "
          "its spread over the catalogue)")
    print(frame.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        if args.output.suffix.lower() == ".csv":
            frame.to_csv(args.output, index=False)
        else:
            frame.to_parquet(args.output, index=False)
        print(f"table: {args.output}")
    return 0 if rows else EXIT_USAGE


def cmd_demo(args: argparse.Namespace) -> int:
    from lcad.training.demo import run_demo

    warnings.filterwarnings("ignore", category=UserWarning, module="mlflow")
    run_demo(args.output, args.register_as, args.epochs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
