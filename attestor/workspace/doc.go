// Package workspace is the directory that carries signed records between
// the phases of a build (.attestor by default), and the names attestor
// gives things there: step names, the files of step records, links,
// bundles and other attestations, and image artifacts (oci://). Every
// write is atomic and every read bounded and FIFO-safe (package safefile).
// The engine, the stores and the gate all use it; it imports nothing of
// attestor's but the leaf packages fault, safefile and envelope.
package workspace
