#!/bin/sh
# make demo: the whole mission on the shipped model (make builds the programs in parallel first).
#   1. classify sample pictures;
#   2. explain them with every method of the paper (a PNG each, and the side-by-side figure);
#   3. evaluate the methods by region perturbation over Fashion-MNIST test images (AOPC), print the
#      paper-style table and draw the curves.
# Settings can be changed from the environment: MODEL, OUT, PICTURES (the pictures to classify and
# explain), EVAL_IMAGES (a pattern: the pictures to evaluate on), REGION, STEPS, REPEATS, METHODS.
set -eu
cd "$(dirname "$0")/.."
MODEL=${MODEL:-models/fashion.xai}
OUT=${OUT:-out/demo}
PICTURES=${PICTURES:-$(ls examples/images/fashion_*.pgm)}
EVAL_IMAGES=${EVAL_IMAGES:-examples/images/fashion-test/*.pgm}
REGION=${REGION:-2}
STEPS=${STEPS:-30}
REPEATS=${REPEATS:-5}
METHODS=${METHODS:-lrp-eps:100,lrp-eps:0.01,lrp-ab:2,sensitivity-l2,sensitivity-linf,deconv-l2,deconv-linf,random}
mkdir -p "$OUT"
start=$(date +%s)

echo "== 1. classify ($MODEL)"
printf '  %-26s %-22s %s\n' picture "predicted class" probability
for p in $PICTURES; do
    bin/classify "$MODEL" "$p" --top 1 | tail -n 1 |
        awk -v pic="$(basename "$p")" '{ l = $5; for (i = 6; i <= NF; i++) l = l " " $i; printf "  %-26s %-22s %s\n", pic, $2 ": " l, $4 }'
done

echo
echo "== 2. explain: a heatmap per method, and the paper's figure (picture and heatmaps side by side)"
for p in $PICTURES; do
    name=$(basename "$p" | sed 's/\.[^.]*$//')
    bin/explain "$MODEL" "$p" --all "$OUT/figure_$name.png" >/dev/null
    for m in sensitivity-l2 deconv-l2 lrp-eps:0.01 lrp-ab:2; do
        bin/explain "$MODEL" "$p" --method "$m" --png "$OUT/heat_${name}_$(echo "$m" | tr ':' '_').png" >/dev/null
    done
done
echo "  $OUT/figure_*.png: input, sensitivity l2/linf, deconvolution l2/linf, LRP eps 0.01/100, LRP alpha 2 beta 1"
echo "  $OUT/heat_*.png: one heatmap per method and picture"

echo
ls $EVAL_IMAGES > "$OUT/eval_list.txt"
n=$(wc -l < "$OUT/eval_list.txt")
echo "== 3. evaluate: region perturbation over $n pictures"
echo "  regions ${REGION}x$REGION, $STEPS steps, uniform noise, $REPEATS repeats, MoRF order, score f_c before softmax"
if [ "$REGION" = 9 ] && [ "$STEPS" = 100 ]; then
    echo "  (the paper's settings for 227x227 pictures)"
else
    echo "  (the paper: 9x9 regions and 100 steps on 227x227 pictures; 2x2 and 30 on 28x28 perturb about the same share, 15%)"
fi
case "$PICTURES" in
    *.pgm*) echo "  (on one-channel pictures the l2 and linf norms over the channels are the same heatmap, so their rows agree)" ;;
esac
rm -rf "$OUT/aopc"
# aopc's progress (a line an image on stderr) goes to the log and, as one line rewritten in place,
# to the terminal; its table (stdout) is shown once it has finished
[ -t 1 ] && tty=1 || tty=0
{ bin/aopc "$MODEL" --list "$OUT/eval_list.txt" --methods "$METHODS" --region "$REGION" --steps "$STEPS" \
      --repeats "$REPEATS" --complexity --out "$OUT/aopc" ${AOPC_FLAGS:-} 2>&1 >"$OUT/aopc.out"
  echo $? > "$OUT/aopc.status"; } |
    tee "$OUT/aopc.log" |
    awk -v tty=$tty '/images\/s/ { n++; if (tty) { printf "\r  %s   ", $0; fflush() } else if (n % 25 == 1) { print "  " $0; fflush() } last = $0; next }
                     { if (tty && n) printf "\n"; print "  " $0; fflush() }
                     END { if (tty && n) printf "\n"; else if (n && n % 25 != 1) print "  " last }'
if [ "$(cat "$OUT/aopc.status")" != 0 ]; then
    echo "demo: the evaluation failed (exit $(cat "$OUT/aopc.status")): see $OUT/aopc.log" >&2
    exit 1
fi
cat "$OUT/aopc.out"
echo
echo "The demo wrote its output to $OUT/ in $(( $(date +%s) - start )) s:"
echo "  figure_*.png and heat_*.png (heatmaps); aopc/summary.tsv, aopc/aopc.svg (AOPC relative to random against L),"
echo "  aopc/complexity_summary.tsv (PNG and JPEG size and entropy of each method's heatmaps, the paper's Table I)"
