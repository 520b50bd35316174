// Package arch holds the test that keeps the rooms of docs/architecture.md
// apart: it reads the page's tables of allowed imports and fails when a
// package of the module imports what its row does not allow.
package arch
