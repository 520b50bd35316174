package e2ekit

import (
	"testing"

	"github.com/aftermath-dev/aftermath/integrations/confluence/confluencetest"
)

// StartConfluence starts a Confluence simulator of mode with the space PM
// (its home page "Post-mortems Home"), validating every Cloud request and
// answer against Atlassian's spec (violations fail the test at cleanup).
// Replicas reach it directly: ConfluenceEnv gives them its address and
// credentials.
func StartConfluence(t testing.TB, mode confluencetest.Mode) *confluencetest.Server {
	t.Helper()
	s := confluencetest.New(t, mode)
	s.AddSpace(confluencetest.Space{Key: "PM", Name: "Post-mortems"})
	return s
}

// ConfluenceEnv is the environment a replica needs to write pages to s:
// CONFLUENCE_BASE_URL with Cloud's email and API token, or Data Center's
// personal access token.
func ConfluenceEnv(s *confluencetest.Server) []string {
	env := []string{"CONFLUENCE_BASE_URL=" + s.BaseURL()}
	if s.Mode() == confluencetest.Cloud {
		return append(env, "CONFLUENCE_EMAIL="+s.Email(), "CONFLUENCE_API_TOKEN="+s.APIToken())
	}
	return append(env, "CONFLUENCE_PAT="+s.PAT())
}
