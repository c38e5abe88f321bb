// Package envelope owns DSSE envelopes as attestor makes them: the Signer
// interfaces every key, KMS and keyless signer implements, signing a
// payload (Sign) or an in-toto statement (SignStatement), parsing an
// envelope's shape (Parse), the statement's stable encoding
// (MarshalStatement, ParseStatement), and the streaming path the Recorder
// takes for large records: the payload signed where it lies (InPlacePAE)
// and written to its file while the signer signs (WriteBody).
//
// Verifying signatures is attestor/sign's (sign.VerifyEnvelope): it is
// about keys. This package imports nothing of attestor's but package fault.
package envelope
