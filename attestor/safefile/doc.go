// Package safefile reads and writes files where something else in the same
// CI job may be at work: reads that never block on a FIFO, socket or
// device planted where a file was expected, and are bounded; writes that
// readers see whole or not at all (a temporary file renamed, or linked for
// a file that must not exist yet). It imports nothing of attestor's but
// package fault.
package safefile
