#!/bin/sh
# get_squeezenet.sh - SqueezeNet v1.0 (Iandola et al. 2016) as models/squeezenet.xai (also: make squeezenet).
#
# Needs internet: it downloads about 22 MB with curl or wget into models/squeezenet/ -
#   squeezenet_v1.0.caffemodel  4.8 MB, the authors' repository github.com/forresti/SqueezeNet,
#                               SqueezeNet_v1.0/ (checked: SHA-1 579d0beb658e43c45937bf8bb5e4034fea4e1f69,
#                               as mexopencv's model list gives it)
#   deploy.prototxt             the same folder (its SHA-1 is reported when it is not
#                               733249be856b9cd28ce929cd7c41874cf817c3c6; caffe2xai checks every
#                               weight's shape against it)
#   synset_words.txt            the 1000 ILSVRC 2012 class names, from caffe_ilsvrc12.tar.gz (~17 MB,
#                               as Caffe's data/ilsvrc12/get_ilsvrc_aux.sh fetches it), or taken
#                               from models/caffenet/ when make caffenet has already fetched it
# then converts them with bin/caffe2xai: BGR, mean pixel 104,117,123 (the authors' training mean),
# pictures resized straight to 227x227.  Files already in models/squeezenet/ are not fetched again.
#
# Offline: XAI_SQUEEZENET_FILES=DIR takes the files from DIR instead of the network (the caffemodel,
# deploy.prototxt, and synset_words.txt or caffe_ilsvrc12.tar.gz).  XAI_SQUEEZENET_SHA1=HEX replaces
# the expected SHA-1 (to try the script with another caffemodel).
#
# A failed download leaves no partial file and no model; the exit status is then non-zero.
set -eu

cd "$(dirname "$0")/.."
dir=models/squeezenet
out=models/squeezenet.xai
commit=b5c3f1a23713c8b3fd7b801d229f6b04c64374a5   # forresti/SqueezeNet, the commit OpenCV's tests pin
base=https://raw.githubusercontent.com/forresti/SqueezeNet/$commit/SqueezeNet_v1.0
weights_url=$base/squeezenet_v1.0.caffemodel
deploy_url=$base/deploy.prototxt
aux_url=http://dl.caffe.berkeleyvision.org/caffe_ilsvrc12.tar.gz
sha1=${XAI_SQUEEZENET_SHA1:-579d0beb658e43c45937bf8bb5e4034fea4e1f69}
deploy_sha1=733249be856b9cd28ce929cd7c41874cf817c3c6
files=${XAI_SQUEEZENET_FILES:-}

script=get_squeezenet.sh
files_var=XAI_SQUEEZENET_FILES
. models/fetch.sh

fetch squeezenet_v1.0.caffemodel "$weights_url" || fail_fetch squeezenet_v1.0.caffemodel "$weights_url"
got=$(sha1_of "$dir/squeezenet_v1.0.caffemodel")
if [ "$got" != "$sha1" ]; then
    rm -f "$dir/squeezenet_v1.0.caffemodel"
    die "squeezenet_v1.0.caffemodel has SHA-1 $got, not $sha1: removed it (a damaged download?); run again"
fi
fetch deploy.prototxt "$deploy_url" || fail_fetch deploy.prototxt "$deploy_url"
got=$(sha1_of "$dir/deploy.prototxt")
[ "$got" = "$deploy_sha1" ] || echo "get_squeezenet.sh: note: deploy.prototxt has SHA-1 $got, not $deploy_sha1 (caffe2xai still checks each weight's shape against it)"

# the labels: loose in XAI_SQUEEZENET_FILES or models/caffenet/, or from the ILSVRC auxiliary archive
if [ ! -s "$dir/synset_words.txt" ]; then
    if [ -n "$files" ] && [ -f "$files/synset_words.txt" ]; then
        fetch synset_words.txt none
    elif [ -s models/caffenet/synset_words.txt ]; then
        cp models/caffenet/synset_words.txt "$dir/synset_words.txt.part" && mv "$dir/synset_words.txt.part" "$dir/synset_words.txt"
    else
        fetch caffe_ilsvrc12.tar.gz "$aux_url" || fail_fetch caffe_ilsvrc12.tar.gz "$aux_url"
        rm -rf "$dir/ilsvrc12.tmp"
        mkdir "$dir/ilsvrc12.tmp"
        tar -xzf "$dir/caffe_ilsvrc12.tar.gz" -C "$dir/ilsvrc12.tmp" || { rm -f "$dir/caffe_ilsvrc12.tar.gz"; die "caffe_ilsvrc12.tar.gz does not unpack: removed it; run again"; }
        found=$(find "$dir/ilsvrc12.tmp" -name synset_words.txt -type f | head -n 1)
        [ -n "$found" ] || die "caffe_ilsvrc12.tar.gz holds no synset_words.txt"
        mv "$found" "$dir/synset_words.txt.part"
        mv "$dir/synset_words.txt.part" "$dir/synset_words.txt"
        rm -rf "$dir/ilsvrc12.tmp" "$dir/caffe_ilsvrc12.tar.gz"
    fi
fi

if [ ! -x bin/caffe2xai ]; then
    if command -v make >/dev/null 2>&1; then make -s bin/caffe2xai || die "cannot build bin/caffe2xai"
    else mkdir -p bin && ${CC:-cc} -O2 tools/caffe2xai.c -o bin/caffe2xai -lm || die "cannot build bin/caffe2xai"
    fi
fi
# caffe2xai writes under a temporary name: a failed conversion leaves no model
bin/caffe2xai "$dir/deploy.prototxt" "$dir/squeezenet_v1.0.caffemodel" -o "$out" \
    --mean-pixel 104,117,123 --labels "$dir/synset_words.txt" || die "conversion failed"
echo "get_squeezenet.sh: $out is ready (bin/xai-inspect $out shows it)"
