package github

import (
	"fmt"
	"strings"
)

// ParseFileCommands parses the contents of a GITHUB_OUTPUT (or GITHUB_ENV)
// file as the runner does: "name=value" lines and "name<<DELIMITER"
// heredocs. Later values of a name win. It is what a test, or a later step,
// reads the outputs of an attestor step with.
func ParseFileCommands(data string) (map[string]string, error) {
	out := map[string]string{}
	// Lines end as the runner's reader ends them: \r\n, \r or \n.
	lines := strings.Split(strings.ReplaceAll(strings.ReplaceAll(data, "\r\n", "\n"), "\r", "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if line == "" {
			continue
		}
		if name, delim, ok := strings.Cut(line, "<<"); ok && (!strings.Contains(line, "=") || strings.Index(line, "<<") < strings.Index(line, "=")) {
			var val []string
			closed := false
			for i++; i < len(lines); i++ {
				if lines[i] == delim {
					closed = true
					break
				}
				val = append(val, lines[i])
			}
			if !closed {
				return nil, fmt.Errorf("file command %q: no closing delimiter %q", name, delim)
			}
			out[name] = strings.Join(val, "\n")
			continue
		}
		name, val, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("file command line %d: %q is neither name=value nor name<<DELIMITER", i+1, line)
		}
		out[name] = val
	}
	return out, nil
}
