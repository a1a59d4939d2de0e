#!/bin/sh
# get_caffenet.sh - the BVLC reference CaffeNet as models/caffenet.xai (also: make caffenet).
#
# Needs internet: it downloads about 250 MB with curl or wget into models/caffenet/ -
#   bvlc_reference_caffenet.caffemodel  ~233 MB, http://dl.caffe.berkeleyvision.org/ (checked: SHA-1
#                                       4c8d77deb20ea792f84eb5e6d0a11ca0a8660a46, from its model-zoo readme)
#   deploy.prototxt                     BVLC Caffe's models/bvlc_reference_caffenet/deploy.prototxt
#   caffe_ilsvrc12.tar.gz               ~17 MB, the ILSVRC 2012 mean image and synset_words.txt, as
#                                       Caffe's data/ilsvrc12/get_ilsvrc_aux.sh fetches them
# then converts them with bin/caffe2xai (mean image 3x256x256 BGR, 1000 labels).  Files already in
# models/caffenet/ are not fetched again.
#
# Offline: XAI_CAFFENET_FILES=DIR takes the files from DIR instead of the network: the caffemodel,
# deploy.prototxt, and caffe_ilsvrc12.tar.gz or the imagenet_mean.binaryproto and synset_words.txt in it.
# XAI_CAFFENET_SHA1=HEX replaces the expected SHA-1 (to try the script with another caffemodel).
#
# A failed download leaves no partial file and no model; the exit status is then non-zero.
set -eu

cd "$(dirname "$0")/.."
dir=models/caffenet
out=models/caffenet.xai
weights_url=http://dl.caffe.berkeleyvision.org/bvlc_reference_caffenet.caffemodel
deploy_url=https://raw.githubusercontent.com/BVLC/caffe/master/models/bvlc_reference_caffenet/deploy.prototxt
aux_url=http://dl.caffe.berkeleyvision.org/caffe_ilsvrc12.tar.gz
sha1=${XAI_CAFFENET_SHA1:-4c8d77deb20ea792f84eb5e6d0a11ca0a8660a46}
files=${XAI_CAFFENET_FILES:-}

script=get_caffenet.sh
files_var=XAI_CAFFENET_FILES
. models/fetch.sh

fetch bvlc_reference_caffenet.caffemodel "$weights_url" || fail_fetch bvlc_reference_caffenet.caffemodel "$weights_url"
got=$(sha1_of "$dir/bvlc_reference_caffenet.caffemodel")
if [ "$got" != "$sha1" ]; then
    rm -f "$dir/bvlc_reference_caffenet.caffemodel"
    die "bvlc_reference_caffenet.caffemodel has SHA-1 $got, not $sha1: removed it (a damaged download?); run again"
fi
fetch deploy.prototxt "$deploy_url" || fail_fetch deploy.prototxt "$deploy_url"

# the mean and the labels: loose in XAI_CAFFENET_FILES, or from the ILSVRC auxiliary archive
if [ ! -s "$dir/imagenet_mean.binaryproto" ] || [ ! -s "$dir/synset_words.txt" ]; then
    if [ -n "$files" ] && [ -f "$files/imagenet_mean.binaryproto" ] && [ -f "$files/synset_words.txt" ]; then
        fetch imagenet_mean.binaryproto none
        fetch synset_words.txt none
    else
        fetch caffe_ilsvrc12.tar.gz "$aux_url" || fail_fetch caffe_ilsvrc12.tar.gz "$aux_url"
        rm -rf "$dir/ilsvrc12.tmp"
        mkdir "$dir/ilsvrc12.tmp"
        tar -xzf "$dir/caffe_ilsvrc12.tar.gz" -C "$dir/ilsvrc12.tmp" || { rm -f "$dir/caffe_ilsvrc12.tar.gz"; die "caffe_ilsvrc12.tar.gz does not unpack: removed it; run again"; }
        for f in imagenet_mean.binaryproto synset_words.txt; do
            found=$(find "$dir/ilsvrc12.tmp" -name "$f" -type f | head -n 1)
            [ -n "$found" ] || die "caffe_ilsvrc12.tar.gz holds no $f"
            mv "$found" "$dir/$f.part"
            mv "$dir/$f.part" "$dir/$f"
        done
        rm -rf "$dir/ilsvrc12.tmp"
    fi
fi

if [ ! -x bin/caffe2xai ]; then
    if command -v make >/dev/null 2>&1; then make -s bin/caffe2xai || die "cannot build bin/caffe2xai"
    else mkdir -p bin && ${CC:-cc} -O2 tools/caffe2xai.c -o bin/caffe2xai -lm || die "cannot build bin/caffe2xai"
    fi
fi
# caffe2xai writes under a temporary name: a failed conversion leaves no model
bin/caffe2xai "$dir/deploy.prototxt" "$dir/bvlc_reference_caffenet.caffemodel" -o "$out" \
    --mean "$dir/imagenet_mean.binaryproto" --labels "$dir/synset_words.txt" || die "conversion failed"
echo "get_caffenet.sh: $out is ready (bin/xai-inspect $out shows it)"
