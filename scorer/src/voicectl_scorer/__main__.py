"""python -m voicectl_scorer serve | score-dirs"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from . import SCORER_ID


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m voicectl_scorer", description=f"voicectl's quality scorer ({SCORER_ID})")
    sub = parser.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="score samples posted by model servers; export /metrics")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8080, help="0 picks a free port (logged at start)")
    s.add_argument("--references", type=Path, help="folder of reference audio, one <voice_id>.wav per voice")
    s.add_argument("--workers", type=int, default=1, help="scoring threads (about one core each)")
    s.add_argument("--queue", type=int, default=64, help="samples waiting at most; more are dropped at random")
    s.add_argument("--max-upload-bytes", type=int, default=8 << 20)
    s.add_argument("--min-seconds", type=float, default=0.5)
    s.add_argument("--max-seconds", type=float, default=60.0)

    d = sub.add_parser("score-dirs", help="score an evaluation set's baseline and candidate audio into gate CSVs")
    d.add_argument("--manifest", type=Path, required=True, help="CSV: utterance_id, voice_id, language, text[, product, tenant]")
    d.add_argument("--baseline", type=Path, required=True, help="folder of <utterance_id>.wav from the baseline model")
    d.add_argument("--candidate", type=Path, required=True, help="folder of <utterance_id>.wav from the candidate model")
    d.add_argument("--references", type=Path, help="folder of reference audio, one <voice_id>.wav per voice")
    d.add_argument("-o", "--out", type=Path, required=True, help="folder to write baseline.csv and canary.csv to")
    d.add_argument("--max-seconds", type=float, default=60.0)

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)

    if args.command == "score-dirs":
        from .offline import score_dirs

        return score_dirs(args.manifest, args.baseline, args.candidate, args.out, args.references, args.max_seconds)

    from .audio import Limits
    from .engine import Engine, References
    from .service import Scorer, serve

    if args.references is not None and not args.references.is_dir():
        print(f"--references {args.references}: not a folder", file=sys.stderr)
        return 66
    if args.workers < 1 or args.queue < 1:
        print("--workers and --queue must be at least 1", file=sys.stderr)
        return 64
    first = Engine()
    # The speaker encoder is stateless and shared; each worker has its own ASR decoder and ONNX session.
    engines = [first, *(Engine(encoder=first.encoder) for _ in range(args.workers - 1))]
    refs = References(args.references, engines[0].encoder)
    scorer = Scorer(refs, engines, queue_capacity=args.queue, limits=Limits(args.min_seconds, args.max_seconds))
    scorer.start()
    server = serve(scorer, args.host, args.port, args.max_upload_bytes)
    logging.getLogger("voicectl_scorer").info(
        "scorer %s listening on %s:%d, %d voices registered", SCORER_ID, args.host, server.server_port, len(refs.ids())
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    server.shutdown()
    scorer.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
