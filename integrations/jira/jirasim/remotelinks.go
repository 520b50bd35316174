package jirasim

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// RemoteLink is a link from an issue to an item elsewhere (a Confluence
// page), as Jira keeps it.
type RemoteLink struct {
	ID           int
	GlobalID     string
	URL          string
	Title        string
	Relationship string
	Application  string
}

// RemoteLinks returns an issue's remote links, oldest first.
func (s *Server) RemoteLinks(key string) []RemoteLink {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := s.issueByKeyOrID(key)
	if x == nil {
		return nil
	}
	var out []RemoteLink
	for _, l := range s.remoteLinks[x.ID] {
		out = append(out, *l)
	}
	return out
}

// createRemoteLink creates a remote link, or updates the issue's link with
// the same globalId as Jira does (200 instead of 201): a link with a global
// ID is never made twice.
func (s *Server) createRemoteLink(rq *request) reply {
	x := s.issueByKeyOrID(rq.param)
	if x == nil {
		return issueNotFound()
	}
	var in struct {
		GlobalID     string `json:"globalId"`
		Relationship string `json:"relationship"`
		Application  struct {
			Name string `json:"name"`
		} `json:"application"`
		Object *struct {
			URL   string `json:"url"`
			Title string `json:"title"`
		} `json:"object"`
	}
	if err := json.Unmarshal(rq.body, &in); err != nil {
		return errorMessages(http.StatusBadRequest, invalidPayload)
	}
	switch {
	case in.Object == nil || strings.TrimSpace(in.Object.Title) == "":
		return fieldErrors(http.StatusBadRequest, map[string]string{"title": "'title' is required."})
	case !strings.HasPrefix(in.Object.URL, "http://") && !strings.HasPrefix(in.Object.URL, "https://"):
		return fieldErrors(http.StatusBadRequest, map[string]string{"url": "'url' is required."})
	case len(in.GlobalID) > 255:
		return fieldErrors(http.StatusBadRequest, map[string]string{"globalId": "The globalId is too long."})
	}
	if s.remoteLinks == nil {
		s.remoteLinks = map[string][]*RemoteLink{}
	}
	l := &RemoteLink{GlobalID: in.GlobalID, URL: in.Object.URL, Title: in.Object.Title, Relationship: in.Relationship, Application: in.Application.Name}
	status := http.StatusCreated
	for _, old := range s.remoteLinks[x.ID] {
		if in.GlobalID != "" && old.GlobalID == in.GlobalID {
			l.ID, status = old.ID, http.StatusOK
			*old = *l
		}
	}
	if status == http.StatusCreated {
		s.commentSeq++
		l.ID = 20000 + s.commentSeq
		s.remoteLinks[x.ID] = append(s.remoteLinks[x.ID], l)
	}
	return reply{Status: status, Body: map[string]any{"id": l.ID, "self": s.base + "/rest/api/2/issue/" + x.Key + "/remotelink/" + strconv.Itoa(l.ID)}}
}

func (s *Server) getRemoteLinks(rq *request) reply {
	x := s.issueByKeyOrID(rq.param)
	if x == nil {
		return issueNotFound()
	}
	gid := rq.r.URL.Query().Get("globalId")
	out := []any{}
	for _, l := range s.remoteLinks[x.ID] {
		if gid != "" && l.GlobalID != gid {
			continue
		}
		link := map[string]any{"id": l.ID, "self": s.base + "/rest/api/2/issue/" + x.Key + "/remotelink/" + strconv.Itoa(l.ID),
			"object": map[string]any{"url": l.URL, "title": l.Title}}
		if l.GlobalID != "" {
			link["globalId"] = l.GlobalID
		}
		if l.Relationship != "" {
			link["relationship"] = l.Relationship
		}
		if l.Application != "" {
			link["application"] = map[string]any{"name": l.Application}
		}
		out = append(out, link)
	}
	return okReply(out)
}
