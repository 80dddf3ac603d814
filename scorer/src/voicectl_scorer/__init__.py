"""voicectl's quality scorer: speaker similarity, predicted MOS and WER of generated speech, from audio."""

import os

# The speaker encoder's matrix products are small (a few partial utterances by 256 units): BLAS threads
# spin more than they help, and a scorer shares its cores with the worker pool. Set before numpy loads.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

__version__ = "0.1.0"

#: Pinned model versions behind every value; exported as the `scorer` label of every series and written to
#: the offline CSV. A policy's `scorer` field must equal it. Any change to a model, its weights or the
#: settings it runs with (the frontend, the decoder's search) moves values, so it gets a new id.
SCORER_ID = "resemblyzer-0.1.4+dnsmos-0.0.1.1+pocketsphinx-5.1.1"
