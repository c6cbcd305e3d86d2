#!/usr/bin/env bash
# The `smoke` workflow at a tiny scale: every step of `all` (assets -> package), then the paper's
# fine-tuned student and `experiments`, in a few minutes. SMOKE_WORKFLOW=ncbi runs the `ncbi` workflow at the
# same scale instead (after `smoke`, its assets, corpus and vectors are skipped as finished).
# Run from a project folder (a checkout or a copy of project.yml + configs/) with spacy_bioner
# installed; assets come from BIONER_DATA_MIRROR when it is set. Extra arguments go to
# `spacy project run` (e.g. --force).
set -euo pipefail
workflow="${SMOKE_WORKFLOW:-smoke}"
start=$(date +%s)
python -m spacy project run "$workflow" . \
  --vars.split_limit 20 --vars.limit 40 --vars.vector_epochs 1 \
  --vars.gold_max_epochs 1 --vars.max_steps 4 --vars.eval_frequency 2 \
  --vars.weak_limit 16 --vars.weak_max_epochs 1 --vars.weak_eval_frequency 2 \
  --vars.recorrect_rounds 1 --vars.finetune_max_epochs 1 --vars.teacher_finetune_epochs 1 --vars.student_finetune_epochs 1 --vars.distill_epochs 1 \
  --vars.mixed_epochs 1 --vars.mixed_epoch_docs 8 --vars.mixed_data weak/cdr/cdwc.sample.spacy \
  --vars.ncbi_mixed_data weak/ncbi/dwc.sample.spacy \
  --vars.package_version 0.0.1 "$@"
echo "spacy project run $workflow: wall time $(( $(date +%s) - start )) s"
