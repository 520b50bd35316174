package render

import (
	"strings"
	"testing"
)

func TestExternalMessage(t *testing.T) {
	page, err := Description(nil, Page{Severity: "SEV-1", Title: "Checkout down", Number: 4211, Status: "Draft"})
	if err != nil {
		t.Fatal(err)
	}
	if msg, ok := ExternalMessage(page); ok {
		t.Fatalf("the bare page has an external message: %q", msg)
	}
	filled := strings.Replace(page, "h3. External\n", "h3. External\nBetween 14:00 and 15:12 UTC some checkouts failed.\n\nAll orders were kept.\n", 1)
	msg, ok := ExternalMessage(filled)
	if !ok || msg != "Between 14:00 and 15:12 UTC some checkouts failed.\nAll orders were kept." {
		t.Fatalf("external message = %q, %v", msg, ok)
	}
	// What follows the next heading is not part of it.
	if msg, ok := ExternalMessage("h3. External\n_prompt_\nh2. Next\nnot it"); ok {
		t.Fatalf("message = %q", msg)
	}
}
