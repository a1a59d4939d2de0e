# fetch.sh - what get_caffenet.sh and get_squeezenet.sh share: sourced after they set
#   script     their name, for messages          dir     the folder the files go into
#   files      a folder to take the files from instead of the network (empty: download)
#   files_var  the variable that sets it (XAI_CAFFENET_FILES, ...), for the error message
# Partial downloads (NAME.part) and an unpacked archive (ilsvrc12.tmp) never outlive the script.

die() {
    echo "$script: $*" >&2
    exit 1
}

mkdir -p "$dir"
trap 'rm -f "$dir"/*.part; rm -rf "$dir/ilsvrc12.tmp"' EXIT
trap 'exit 1' INT TERM HUP

# fetch NAME URL: $dir/NAME from $files or the network, via NAME.part
fetch() {
    name=$1
    url=$2
    [ -s "$dir/$name" ] && return 0
    if [ -n "$files" ]; then
        [ -f "$files/$name" ] || return 1
        echo "$script: $name from $files"
        cp "$files/$name" "$dir/$name.part" || return 1
    else
        echo "$script: downloading $url"
        if command -v curl >/dev/null 2>&1; then
            curl -fL --retry 2 --connect-timeout 20 -o "$dir/$name.part" "$url" || { rm -f "$dir/$name.part"; return 1; }
        elif command -v wget >/dev/null 2>&1; then
            wget -O "$dir/$name.part" "$url" || { rm -f "$dir/$name.part"; return 1; }
        else
            die "neither curl nor wget is installed"
        fi
    fi
    mv "$dir/$name.part" "$dir/$name"
}

fail_fetch() {
    if [ -n "$files" ]; then die "$1 is not in $files ($files_var)"; fi
    die "cannot download $2 (this needs internet; or put the files in a folder and set $files_var=DIR)"
}

sha1_of() {
    if command -v sha1sum >/dev/null 2>&1; then sha1sum "$1" | cut -d' ' -f1
    elif command -v shasum >/dev/null 2>&1; then shasum -a 1 "$1" | cut -d' ' -f1
    elif command -v openssl >/dev/null 2>&1; then openssl sha1 "$1" | sed 's/.*= *//'
    else die "no sha1sum, shasum or openssl to check the download"
    fi
}
