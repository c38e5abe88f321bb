// Package linkjson decodes what the gate reads most of: step records (which
// may list hundreds of thousands of artifacts) and their DSSE envelopes.
// DecodeStatement and DecodeEnvelope take a hand-written fast path (see
// decode.go) and fall back to encoding/json for anything the fast path
// does not decode exactly as encoding/json would; the differential fuzz
// targets FuzzDecodeLinkStatement and FuzzDecodeEnvelope check that
// equivalence.
//
// Why hand-written: BenchmarkVerifyChain (attestor/gate), 10 steps, with
// DecodeStatement and DecodeEnvelope against encoding/json alone (3 runs
// each, on a loaded 2-core machine, 2026-12-05): 1,000 artifacts per step
// 17-22 ms against 51-119 ms; 100,000 artifacts per step 3.2-4.7 s
// against 3.3-5.0 s (inside the noise), with 1.24 GB allocated in 2.0 M
// allocations against 1.65 GB in 4.0 M.
package linkjson
