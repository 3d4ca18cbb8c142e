#!/usr/bin/env bash
# Puts each of issue 21's defects 1-5 back, one at a time, in a throwaway worktree of HEAD, and runs
# the stateful test against the independent model (tests/oracle.py): each run must FAIL. Not part of
# `make test` (five runs of 1,000 examples, mostly Hypothesis shrinking: about 25 minutes).
#   devtools/defects_put_back.sh            # prints one line per defect: "defectN: 1 failed ..." is the expected result
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WT="$(mktemp -d)/wt"
git -C "$ROOT" worktree add -q --detach "$WT" HEAD
ln -s "$ROOT/.venv" "$WT/.venv"
trap 'git -C "$ROOT" worktree remove --force "$WT"' EXIT
cd "$WT"
B=layers/billing/billing
run() {
  STATEFUL_EXAMPLES=1000 .venv/bin/python -m pytest tests/unit/test_exactly_once_stateful.py -q -x -p no:cacheprovider > "/tmp/$1.log" 2>&1
  echo "$1: $(tail -1 "/tmp/$1.log")   (log: /tmp/$1.log)"
  git checkout -q -- $B
}
# 1: a plan left without proration keeps its paid period (credit for time the customer gave up)
sed -i 's/        self.paid_period = None  # credited or forfeited/        pass  # self.paid_period = None/' $B/domain/model.py; run defect1
# 2: the credit ignores what was refunded of the paid charge (refunded and credited twice)
sed -i 's/min(unused - self.amount_refunded, self.paid_value - self.credited - self.amount_refunded)/min(unused, self.paid_value - self.credited)/' $B/domain/charge.py; run defect2
# 3: an item is accepted with no cycle left and stays pending when the mandate ends
sed -i 's/        if not self.has_cycle_left(now):/        if False:/; s/            and (bool(self.pending_items) or self.credit > 0)/            and self.credit > 0/' $B/domain/model.py; run defect3
# 4: credit left on an ended mandate is never given back
sed -i 's/            and (bool(self.pending_items) or self.credit > 0)/            and bool(self.pending_items)/' $B/domain/model.py; run defect4
# 5: a card replaced between the claim and the start is not the card charged
sed -i 's/        charge.repin(method, now)/        pass/' $B/domain/engine.py; run defect5
