package config

import (
	"reflect"
	"strings"
)

// Vars returns the names of the environment variables Load reads, in the
// order the configuration declares them. The deployment manifests are checked
// against it, so a misspelt or retired name in them fails a test.
func Vars() []string {
	t := reflect.TypeFor[raw]()
	out := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("env"), ","); name != "" {
			out = append(out, name)
		}
	}
	return out
}
