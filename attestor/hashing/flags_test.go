package hashing

import "flag"

// update makes golden-file tests rewrite their golden files instead of
// comparing against them: go test ./attestor/hashing -run X -update.
var update = flag.Bool("update", false, "rewrite golden files under testdata")
