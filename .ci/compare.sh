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
# Then, in the same run (SECTIONS selects them):
#   cache   attestor's products pass on the unchanged tree against its
#           materials pass (record start, then record stop with
#           --workspace-cache, the opt-in cache shared by steps; the hash
#           pass times come from -v), and record stop with --no-cache
#   large   hasher throughput on 4 x 128 MiB files against cores x the
#           single-core SHA-256 rate, measured together (go test -bench), and
#           attestor itself on those files
#   big     attestor's peak RSS hashing one 4 GiB file (sparse: the reads
#           come from zero pages in the page cache, not the disk)
#   gate    the gate on a chain of 10 steps x 100,000 artifacts (go test
#           -bench BenchmarkVerifyChain), time per verification and peak RSS
#           of the benchmark process (which also holds the signed chain)
#
# A tool that is not installed is skipped with a line that says so; a run
# that fails prints its output and makes the script exit 1.
#
#   SECTIONS   of "tools cache large big gate" (default: all); "tools" is the
#              side-by-side comparison above
set -euo pipefail

N=${N:-3}
FILES=${FILES:-20000}
MB=${MB:-450}
CACHE_DIR=${CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/attestor-compare}
TOOLS=${TOOLS:-attestor in-toto-golang in-toto-python}
SECTIONS=${SECTIONS:-tools cache large big gate}
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
	sync # written back now, not while measuring
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
section() { [[ " $SECTIONS " == *" $1 "* ]]; }

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
failed=0
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

if section tools; then
[[ ${#ORDER[@]} -gt 0 ]] || die "no tool to run"

# --- the runs -------------------------------------------------------------------
declare -A WALL RSS CPU DEAD # tool -> space-separated samples; tool -> failed
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
fi # section tools

# --- attestor alone ------------------------------------------------------------
have_attestor() {
	[[ -n ${ATTESTOR:-} && -z ${SKIP[attestor]:-} ]] && return 0
	echo "SKIPPED: no attestor binary"
	return 1
}
[[ -f $WORK/attestor.key ]] || openssl genpkey -algorithm ed25519 -out "$WORK/attestor.key" 2>/dev/null

# hashlog FILE: "seconds files cachedFiles" of the last hash pass that
# attestor -v logged in FILE (JSON log lines, as in a CI log).
hashlog() {
	python3 - "$1" <<'PY'
import json, sys
last = None
for line in open(sys.argv[1]):
    try:
        r = json.loads(line)
    except ValueError:
        continue
    if r.get("msg") == "hashed":
        last = r
if last is None:
    print("? ? ?")
else:
    print(last["seconds"], last["files"], last.get("cachedFiles", 0))
PY
}

# timed OUT CMD...: runs CMD under $TIME into OUT.time, its output into OUT.log.
timed() {
	local out=$1
	shift
	if ! $TIME -f '%e %M %U %S' -o "$out.time" "$@" >"$out.log" 2>&1; then
		echo "FAILED: $*" && sed 's/^/    /' "$out.log" | tail -n 20
		return 1
	fi
}

if section cache && have_attestor; then
	echo
	echo "== products pass on the unchanged tree vs materials pass (record start / record stop, N=$N)"
	declare -a MAT PROD NOC STOPW STARTW
	# Steps share the cache only when asked to (attestor builds that
	# predate the flag always did).
	wscache=()
	if "$ATTESTOR" record start --help 2>&1 | grep -- --workspace-cache >/dev/null; then
		wscache=(--workspace-cache)
	fi
	for ((i = 1; i <= N; i++)); do
		ws=$WORK/out/cache
		rm -rf "$ws"
		(cd "$TREE_PARENT" && timed "$WORK/start" "$ATTESTOR" -v --dir "$ws" record start --step c -m tree --key "$WORK/attestor.key" "${wscache[@]}") || { failed=1; break; }
		(cd "$TREE_PARENT" && timed "$WORK/stop" "$ATTESTOR" -v --dir "$ws" record stop --step c -p tree --key "$WORK/attestor.key" "${wscache[@]}") || { failed=1; break; }
		read -r ms mf mc <<<"$(hashlog "$WORK/start.log")"
		read -r ps pf pc <<<"$(hashlog "$WORK/stop.log")"
		MAT+=("$ms") PROD+=("$ps")
		STARTW+=("$(cut -d' ' -f1 "$WORK/start.time")") STOPW+=("$(cut -d' ' -f1 "$WORK/stop.time")")
		# The same again without the cache, for reference.
		(cd "$TREE_PARENT" && timed "$WORK/start2" "$ATTESTOR" -v --dir "$ws" record start --step d -m tree --key "$WORK/attestor.key" --no-cache) || { failed=1; break; }
		(cd "$TREE_PARENT" && timed "$WORK/stop2" "$ATTESTOR" -v --dir "$ws" record stop --step d -p tree --key "$WORK/attestor.key" --no-cache) || { failed=1; break; }
		read -r ns _ _ <<<"$(hashlog "$WORK/stop2.log")"
		NOC+=("$ns")
	done
	if [[ ${#PROD[@]} -gt 0 ]]; then
		m=$(median <<<"${MAT[*]}") p=$(median <<<"${PROD[*]}") n=$(median <<<"${NOC[*]}")
		printf 'materials pass  %8.3f s  (%s files; record start %.2f s wall)\n' "$m" "$mf" "$(median <<<"${STARTW[*]}")"
		printf 'products pass   %8.3f s  (%s files, %s from the cache; record stop %.2f s wall)\n' "$p" "$pf" "$pc" "$(median <<<"${STOPW[*]}")"
		printf 'products pass, --no-cache %8.3f s\n' "$n"
		awk -v m="$m" -v p="$p" 'BEGIN { printf "products / materials: %.1f%%\n", 100 * p / m }'
		[[ $pc == 0 ]] && echo "NOTE: no file came from the cache: is the workspace cache wired into the Recorder?"
	fi
fi

if section large; then
	echo
	echo "== large files: 4 x 128 MiB, hasher vs cores x single-core SHA-256 (go test -bench, $(nproc) cores)"
	if command -v go >/dev/null; then
		(cd "$REPO" && go test -run '^$' -bench 'BenchmarkHashLargeFiles$|BenchmarkReadPageCache' -benchtime 5x -count "$N" ./attestor/hashing/) >"$WORK/large.log" 2>&1 || { sed 's/^/    /' "$WORK/large.log" | tail -n 20; failed=1; }
		grep '^Benchmark' "$WORK/large.log" | sed 's/^/  /'
		python3 - "$WORK/large.log" <<'PY'
import re, statistics, sys
pct, core, rate = [], [], []
for line in open(sys.argv[1]):
    if line.startswith("BenchmarkHashLargeFiles"):
        f = dict((u, float(v)) for v, u in re.findall(r"([\d.]+) (\S+)", line))
        pct.append(f["%-of-cores×sha256"]); core.append(f["sha256-MB/s/core"]); rate.append(f["MB/s"])
if pct:
    print(f"median: hasher {statistics.median(rate):.0f} MB/s, single-core sha256 {statistics.median(core):.0f} MB/s, "
          f"{statistics.median(pct):.1f}% of cores x single-core")
PY
	else
		echo "SKIPPED: no go toolchain"
	fi
	if have_attestor; then
		LARGE=$CACHE_DIR/large-4x128MiB
		if [[ ! -f $LARGE/complete ]]; then
			rm -rf "$LARGE" && mkdir -p "$LARGE/tree"
			for i in 0 1 2 3; do head -c $((128 << 20)) /dev/urandom >"$LARGE/tree/large$i"; done
			sync # written back now, not while measuring
			touch "$LARGE/complete"
		fi
		cat "$LARGE"/tree/* >/dev/null
		declare -a LS
		for ((i = 1; i <= N; i++)); do
			rm -rf "$WORK/out/large"
			(cd "$LARGE" && timed "$WORK/large1" "$ATTESTOR" -v --dir "$WORK/out/large" record start --step l -m tree --no-cache --key "$WORK/attestor.key") || { failed=1; break; }
			read -r s _ _ <<<"$(hashlog "$WORK/large1.log")"
			LS+=("$s")
		done
		[[ ${#LS[@]} -gt 0 ]] && awk -v s="$(median <<<"${LS[*]}")" 'BEGIN { printf "attestor record start: hash pass %.3f s, %.0f MB/s\n", s, 4 * 134217728 / s / 1e6 }'
	fi
fi

if section big && have_attestor; then
	echo
	echo "== one 4 GiB file (sparse; zero pages from the page cache): peak RSS"
	mkdir -p "$WORK/big" && truncate -s 4G "$WORK/big/big"
	declare -a BR BW
	for ((i = 1; i <= N; i++)); do
		rm -rf "$WORK/out/big"
		(cd "$WORK/big" && timed "$WORK/bigrun" "$ATTESTOR" --dir "$WORK/out/big" run --step big -m big --no-cache --key "$WORK/attestor.key" -- true) || { failed=1; break; }
		read -r w r _ _ <"$WORK/bigrun.time"
		BW+=("$w") BR+=("$r")
	done
	rm -f "$WORK/big/big"
	[[ ${#BR[@]} -gt 0 ]] && awk -v w="$(median <<<"${BW[*]}")" -v r="$(median <<<"${BR[*]}")" \
		'BEGIN { printf "attestor run -m big: %.2f s, peak RSS %.1f MiB\n", w, r / 1024 }'
fi

if section gate; then
	echo
	echo "== gate: 10 steps x 100,000 artifacts (go test -bench BenchmarkVerifyChain)"
	if command -v go >/dev/null && (cd "$REPO" && go test -c -o "$WORK/gate.test" ./attestor/gate/) >"$WORK/gate.build" 2>&1; then
		if (cd "$REPO/attestor/gate" && $TIME -f '%e %M' -o "$WORK/gate.time" "$WORK/gate.test" -test.run '^$' \
			-test.bench 'BenchmarkVerifyChain/steps=10/artifacts=100000$' -test.benchtime "${N}x" -test.benchmem) >"$WORK/gate.log" 2>&1; then
			grep '^Benchmark' "$WORK/gate.log" | sed 's/^/  /'
			# Fields by unit: ns/op, peak-heap-MB (heap above the set-up's,
			# sampled), B/op.
			awk '/^Benchmark/ { for (i = 3; i < NF; i++) v[$(i + 1)] = $i
				printf "per verification: %.2f s, %.0f MiB allocated, peak heap %.0f MB above the signed chain\n", v["ns/op"] / 1e9, v["B/op"] / 1048576, v["peak-heap-MB"] }' "$WORK/gate.log"
			read -r _ r <"$WORK/gate.time"
			awk -v r="$r" 'BEGIN { printf "peak RSS of the benchmark process (chain included): %.0f MiB\n", r / 1024 }'
		else
			sed 's/^/    /' "$WORK/gate.log" | tail -n 20
			failed=1
		fi
	else
		echo "SKIPPED: cannot build the gate's tests"
	fi
fi

echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $failed
