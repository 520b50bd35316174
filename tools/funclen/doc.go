// Package funclen holds a test that keeps every function of the service short: no non-test
// function outside the simulators and tools/ may run over 80 lines (issue 20). It has no code of
// its own; `go test ./tools/funclen` is the check.
package funclen
