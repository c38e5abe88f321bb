package util

// Upper is strings.ToUpper.
func Upper(s string) string { return s }
