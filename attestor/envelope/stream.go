package envelope

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

// PAEReserve is the room left in front of a statement for its DSSE
// pre-authentication header ("DSSEv1 <len> <type> <len> "), with payload
// types of up to 64 bytes.
const PAEReserve = len("DSSEv1 ") + 20 + 1 + 64 + 1 + 20 + 1

// InPlacePAE writes the DSSE pre-authentication header of the payload
// buf[PAEReserve:] just in front of it and returns the header and payload:
// dsse.PAE(payloadType, payload) without a copy of the payload.
func InPlacePAE(buf []byte, payloadType string) []byte {
	hdr := fmt.Appendf(nil, "DSSEv1 %d %s %d ", len(payloadType), payloadType, len(buf)-PAEReserve)
	if len(hdr) > PAEReserve {
		panic("envelope: payload type too long for PAEReserve")
	}
	start := PAEReserve - len(hdr)
	copy(buf[start:], hdr)
	return buf[start:]
}

// Body is an envelope being written: its type and payload, in the
// background, then (Finish) its signature: byte for byte what
// json.Marshal makes of the dsse.Envelope, without a copy of the payload
// in memory.
type Body struct {
	bw   *bufio.Writer
	done chan error
}

// WriteBody starts writing the envelope up to its signatures.
func WriteBody(w io.Writer, payloadType string, payload []byte) *Body {
	b := &Body{bw: bufio.NewWriterSize(w, 64<<10), done: make(chan error, 1)}
	go func() {
		typ, err := json.Marshal(payloadType)
		if err != nil {
			b.done <- err
			return
		}
		b.bw.WriteString(`{"payloadType":`)
		b.bw.Write(typ)
		b.bw.WriteString(`,"payload":"`)
		enc := base64.NewEncoder(base64.StdEncoding, b.bw)
		if _, err := enc.Write(payload); err != nil {
			b.done <- err
			return
		}
		b.done <- enc.Close()
	}()
	return b
}

// Wait waits until the body is written.
func (b *Body) Wait() error { return <-b.done }

// Finish writes the signature and the end of the envelope, after Wait.
func (b *Body) Finish(sig dsse.Signature) error {
	sigs, err := json.Marshal([]dsse.Signature{sig})
	if err != nil {
		return err
	}
	b.bw.WriteString(`","signatures":`)
	b.bw.Write(sigs)
	b.bw.WriteString("}")
	return b.bw.Flush()
}
