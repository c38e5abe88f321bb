#!/usr/bin/env bash
# compare.sh: attestor against in-toto-golang ("in-toto run") and Python
# in-toto ("in-toto-run") recording materials and products of one generated
# tree (a `run` of `true`), side by side: median wall time, CPU time
# (user+sys) and peak RSS of N runs each, and the ratios. Wall time is what
# the comparison is about; on a busy machine CPU time is the steadier figure.
#
#   bash .ci/compare.sh                 # N=3, attestor built from this tree
#   N=5 ATTESTOR=bin/attestor bash .ci/compare.sh
#
# Environment:
#   N          runs per tool (default 3); the median is reported
#   FILES      files in the tree (default 20000)
#   MB         total size of the tree in MB, 10^6 bytes (default 450)
#   CACHE_DIR  where the tree is kept between runs
#              (default ${XDG_CACHE_HOME:-$HOME/.cache}/attestor-compare)
#   ATTESTOR   attestor binary (default: go build ./cmd/attestor to a temp dir)
#   INTOTO_GO  in-toto-golang binary (default: "in-toto" on PATH, else
#              in-toto-golang in $(go env GOPATH)/bin)
#   INTOTO_PY  Python in-toto's in-toto-run (default: on PATH)
#   TOOLS      which to run, of "attestor in-toto-golang in-toto-python"
#              (default: all three)
#
# A tool that is not installed is skipped with a line that says so; a run
# that fails prints its output and makes the script exit 1.
set -euo pipefail

N=${N:-3}
FILES=${FILES:-20000}
MB=${MB:-450}
CACHE_DIR=${CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/attestor-compare}
TOOLS=${TOOLS:-attestor in-toto-golang in-toto-python}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TIME=/usr/bin/time

die() { echo "compare.sh: $*" >&2; exit 2; }
[[ $N =~ ^[1-9][0-9]*$ ]] || die "N must be a positive integer, not '$N'"
[[ -x $TIME ]] || die "$TIME not found (Debian: apt-get install time)"
command -v python3 >/dev/null || die "python3 not found"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/attestor-compare.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# --- the tree -----------------------------------------------------------------
# Deterministic: the same FILES and MB always give the same bytes. Sizes are
# mixed (many small source-like files, some medium, a few large artifacts),
# spread over nested directories of about 20 files each.
TREE_PARENT=$CACHE_DIR/files-$FILES-mb-$MB
TREE=$TREE_PARENT/tree
if [[ ! -f $TREE_PARENT/complete ]]; then
	echo "generating $FILES files, $MB MB in $TREE (once; kept for later runs)" >&2
	rm -rf "$TREE_PARENT"
	mkdir -p "$TREE_PARENT"
	python3 - "$TREE" "$FILES" "$MB" <<'PY'
import os, random, sys
root, files, mb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(20240601)
sizes = []
for i in range(files):
    r = rng.random()
    if r < 0.90:
        sizes.append(rng.randint(200, 24 << 10))       # sources, configs
    elif r < 0.995:
        sizes.append(rng.randint(64 << 10, 1 << 20))   # assets, objects
    else:
        sizes.append(rng.randint(4 << 20, 24 << 20))   # archives, binaries
scale = mb * 10**6 / sum(sizes)
sizes = [max(1, int(s * scale)) for s in sizes]
sizes[-1] += mb * 10**6 - sum(sizes)
block = random.Random(7).randbytes(64 << 20)
for i, size in enumerate(sizes):
    d = os.path.join(root, "d%02d" % (i % 37), "s%03d" % (i // 37 % 27))
    os.makedirs(d, exist_ok=True)
    off = (i * 1048573) % (len(block) - min(size, len(block)) + 1)
    with open(os.path.join(d, "f%05d.dat" % i), "wb") as f:
        left = size
        while left:
            n = min(left, len(block) - off)
            f.write(block[off:off + n])
            left -= n
            off = 0
PY
	touch "$TREE_PARENT/complete"
fi
count=$(find "$TREE" -type f | wc -l)
bytes=$(du -sb "$TREE" | cut -f1)
echo "tree: $TREE: $count files, $((bytes / 1000000)) MB (du)"
echo "runs: $N per tool, median reported; machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
# Warm the page cache so that no tool pays for the disk.
find "$TREE" -type f -exec cat {} + >/dev/null

# --- the tools ------------------------------------------------------------------
declare -A CMD      # tool -> command line (an array in disguise: eval'd)
declare -A SKIP     # tool -> why it is skipped

want() { [[ " $TOOLS " == *" $1 "* ]]; }

if want attestor; then
	if [[ -z ${ATTESTOR:-} ]]; then
		if command -v go >/dev/null && (cd "$REPO" && go build -o "$WORK/attestor" ./cmd/attestor) 2>"$WORK/build.log"; then
			ATTESTOR=$WORK/attestor
		else
			SKIP[attestor]="cannot build ./cmd/attestor: $(tail -n 3 "$WORK/build.log" | tr '\n' ' ')"
		fi
	elif [[ ! -x $ATTESTOR ]]; then
		SKIP[attestor]="ATTESTOR=$ATTESTOR is not an executable"
	fi
	if [[ -z ${SKIP[attestor]:-} ]]; then
		openssl genpkey -algorithm ed25519 -out "$WORK/attestor.key" 2>/dev/null
		CMD[attestor]="'$ATTESTOR' --dir '$WORK/out/attestor' run --step bench -m tree -p tree --key '$WORK/attestor.key' --format dsse -- true"
	fi
fi

if want in-toto-golang; then
	if [[ -z ${INTOTO_GO:-} ]]; then
		if command -v in-toto >/dev/null && in-toto run --help >/dev/null 2>&1; then
			INTOTO_GO=$(command -v in-toto)
		elif command -v go >/dev/null && [[ -x $(go env GOPATH)/bin/in-toto-golang ]]; then
			INTOTO_GO=$(go env GOPATH)/bin/in-toto-golang
		fi
	fi
	if [[ -z ${INTOTO_GO:-} || ! -x $INTOTO_GO ]]; then
		SKIP[in-toto-golang]="not installed (go install github.com/in-toto/in-toto-golang@v0.11.0, or set INTOTO_GO)"
	else
		openssl genpkey -algorithm ed25519 -out "$WORK/golang.key" 2>/dev/null
		CMD[in-toto-golang]="'$INTOTO_GO' run -n bench -m tree -p tree -k '$WORK/golang.key' -d '$WORK/out/in-toto-golang' -- true"
	fi
fi

if want in-toto-python; then
	INTOTO_PY=${INTOTO_PY:-$(command -v in-toto-run || true)}
	if [[ -z $INTOTO_PY || ! -x $INTOTO_PY ]]; then
		SKIP[in-toto-python]="not installed (Debian: apt-get install in-toto, or set INTOTO_PY)"
	else
		# Python in-toto reads RSA keys as PEM.
		openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out "$WORK/python.key" 2>/dev/null
		CMD[in-toto-python]="'$INTOTO_PY' -n bench -m tree -p tree -k '$WORK/python.key' -t rsa -d '$WORK/out/in-toto-python' -q -- true"
	fi
fi

ORDER=()
for tool in attestor in-toto-golang in-toto-python; do
	want "$tool" || continue
	if [[ -n ${SKIP[$tool]:-} ]]; then
		echo "SKIPPED $tool: ${SKIP[$tool]}"
	else
		ORDER+=("$tool")
	fi
done
[[ ${#ORDER[@]} -gt 0 ]] || die "no tool to run"

# --- the runs -------------------------------------------------------------------
declare -A WALL RSS CPU DEAD # tool -> space-separated samples; tool -> failed
failed=0
run_once() { # tool
	local tool=$1 out=$WORK/out/$1
	rm -rf "$out" && mkdir -p "$out"
	local rc=0
	(cd "$TREE_PARENT" && eval "$TIME -f '%e %M %U %S' -o '$WORK/time' ${CMD[$tool]}") >"$WORK/log" 2>&1 || rc=$?
	if [[ $rc -ne 0 ]]; then
		echo "FAILED $tool (exit $rc): ${CMD[$tool]}" && sed 's/^/    /' "$WORK/log" | tail -n 20
		return 1
	fi
	if [[ -z $(ls -A "$out") ]]; then
		echo "FAILED $tool: it wrote nothing to $out" && sed 's/^/    /' "$WORK/log" | tail -n 20
		return 1
	fi
	read -r wall rss user sys <"$WORK/time"
	WALL[$tool]+="$wall "
	RSS[$tool]+="$rss "
	CPU[$tool]+="$(awk "BEGIN {print $user + $sys}") "
}
for ((i = 1; i <= N; i++)); do
	for tool in "${ORDER[@]}"; do
		[[ -n ${DEAD[$tool]:-} ]] && continue
		run_once "$tool" || { failed=1; DEAD[$tool]=1; }
	done
done

# The number of artifacts each recorded in its last run, as a sanity check
# that they did the same work.
artifacts() { # dir
	python3 - "$1" <<'PY' 2>/dev/null || echo "?"
import base64, json, os, sys
for root, _, names in os.walk(sys.argv[1]):
    for n in names:
        try:
            doc = json.load(open(os.path.join(root, n)))
        except Exception:
            continue
        if "payload" in doc:  # DSSE
            doc = json.loads(base64.b64decode(doc["payload"]))
            pred = doc.get("predicate", {})
            m = pred.get("materials", [])
            print(f"{len(m)} materials, {len(doc.get('subject', []))} products")
            sys.exit()
        s = doc.get("signed", {})
        if "materials" in s:
            print(f"{len(s['materials'])} materials, {len(s.get('products', {}))} products")
            sys.exit()
print("?")
PY
}

median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

echo
printf '%-16s %10s %10s %14s   %s\n' tool "wall (s)" "cpu (s)" "peak RSS (MiB)" "recorded"
declare -A MW MR MC
for tool in "${ORDER[@]}"; do
	[[ -n ${WALL[$tool]:-} ]] || continue
	MW[$tool]=$(median <<<"${WALL[$tool]}")
	MR[$tool]=$(median <<<"${RSS[$tool]}")
	MC[$tool]=$(median <<<"${CPU[$tool]}")
	printf '%-16s %10.2f %10.2f %14.1f   %s\n' "$tool" "${MW[$tool]}" "${MC[$tool]}" "$(awk "BEGIN {print ${MR[$tool]} / 1024}")" "$(artifacts "$WORK/out/$tool")"
done
echo
if [[ -n ${MW[attestor]:-} ]]; then
	for tool in in-toto-golang in-toto-python; do
		[[ -n ${MW[$tool]:-} ]] || continue
		awk -v t="$tool" -v aw="${MW[attestor]}" -v pw="${MW[$tool]}" -v ac="${MC[attestor]}" -v pc="${MC[$tool]}" \
			-v ar="${MR[attestor]}" -v pr="${MR[$tool]}" 'BEGIN {
			printf "attestor vs %-16s wall %5.2fx faster, cpu %5.2fx less, peak RSS %5.2fx of %s'"'"'s\n",
				t ":", pw / (aw > 0 ? aw : 0.01), pc / (ac > 0 ? ac : 0.01), ar / pr, t
		}'
	done
else
	echo "no attestor figures: no ratios"
	failed=1
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $failed
