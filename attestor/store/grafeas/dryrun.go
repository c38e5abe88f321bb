package grafeas

import (
	"fmt"
	"net/http"
	"net/url"
	"path"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/attestor/attestor/attestor/store"
)

// DryRunDir is the workspace directory under which a dry run leaves the
// bodies it would send: DryRunDir/API/notes/PROJECT/NOTE.json and
// DryRunDir/API/occurrences/PROJECT/SUBJECT-DIGEST/KIND-DIGEST.json.
const DryRunDir = "_dry-run/grafeas"

var dryRunMarshal = protojson.MarshalOptions{Multiline: true, Indent: "  "}

// dryRunPut writes and prints every note and occurrence that Put would
// create, sending nothing.
func (c *Client) dryRunPut(s store.Subject, items []*item) error {
	api := string(c.opts.api)
	noteURL := c.base + "/projects/" + url.PathEscape(c.opts.noteProject) + "/notes"
	occURL := c.base + "/projects/" + url.PathEscape(c.opts.project) + "/occurrences"
	written := map[string]bool{}
	for _, it := range items {
		spec := c.noteSpec(it)
		note := "projects/" + c.opts.noteProject + "/notes/" + spec.id
		if !written[note] {
			written[note] = true
			name := path.Join(DryRunDir, api, "notes", c.opts.noteProject, spec.id+".json")
			if err := c.dryRunWrite(name, http.MethodPost, noteURL+"?noteId="+url.QueryEscape(spec.id), c.dialect.note(spec, &c.opts)); err != nil {
				return err
			}
		}
		name := path.Join(DryRunDir, api, "occurrences", c.opts.project, s.Digest.Algorithm+"-"+s.Digest.Hex, it.kind.String()+"-"+it.digest[:32]+".json")
		if err := c.dryRunWrite(name, http.MethodPost, occURL, c.dialect.occurrence(it, store.ResourceURI(s), note, c.opts.project)); err != nil {
			return err
		}
	}
	return nil
}

func (c *Client) dryRunWrite(name, method, u string, body proto.Message) error {
	data, err := dryRunMarshal.Marshal(body)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", name, err)
	}
	data = append(data, '\n')
	if err := c.opts.dryRun.Write(name, data); err != nil {
		return err
	}
	if w := c.opts.dryRunOut; w != nil {
		fmt.Fprintf(w, "dry run: %s %s (saved as %s)\n%s", method, u, c.opts.dryRun.Path(name), data)
	}
	return nil
}
