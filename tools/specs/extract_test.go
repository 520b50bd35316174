package main

import (
	"strings"
	"testing"
)

func TestExtract(t *testing.T) {
	src := []byte("intro \"\"\"not this\"\"\"\n" +
		"void Resolve() {\n  body = \"\"\"{\"a\":1}\"\"\";\n  other = \"\"\"{\"b\":2}\"\"\";\n}\n" +
		"void Ping() {\n  body = \"\"\"{\"ping\":true}\"\"\";\n}\n")
	cases := []struct {
		name    string
		rule    Extract
		want    string
		wantErr string
	}{
		{"the first literal after the marker", Extract{After: "Resolve()", From: `"""`, To: `"""`}, `{"a":1}`, ""},
		{"another marker", Extract{After: "Ping()", From: `"""`, To: `"""`}, `{"ping":true}`, ""},
		{"different delimiters", Extract{After: "Ping() {\n", From: "body = ", To: ";"}, `"""{"ping":true}"""`, ""},
		{"marker missing", Extract{After: "Acknowledge()", From: `"""`, To: `"""`}, "", `marker "Acknowledge()" not found`},
		{"marker not unique", Extract{After: "body = ", From: `"""`, To: `"""`}, "", `marker "body = " occurs 2 times in the source, want once`},
		{"opening delimiter missing", Extract{After: "Ping()", From: "```json\n", To: "```"}, "", "opening delimiter \"```json\\n\" not found after marker \"Ping()\""},
		{"closing delimiter missing", Extract{After: "Ping()", From: `"""`, To: "'''"}, "", `closing delimiter "'''" not found`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := extract(src, &tc.rule)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("extract = %q, %v; want error containing %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("extract = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestExtractWithoutARuleIsTheWholeSource(t *testing.T) {
	got, err := extract([]byte("whole"), nil)
	if err != nil || string(got) != "whole" {
		t.Fatalf("extract(nil rule) = %q, %v", got, err)
	}
}
