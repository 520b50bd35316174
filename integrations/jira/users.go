package jira

import (
	"context"
	"net/http"
	"net/url"
	"strings"
)

// UserByEmail finds the Jira user with this email; found is false when there
// is none. Answers are cached for UserTTL.
func (c *Client) UserByEmail(ctx context.Context, email string) (User, bool, error) {
	// The query and the match use the trimmed address, as the cache key
	// does: else " a@x" would be cached as not found for "a@x" too.
	email = strings.TrimSpace(email)
	if email == "" {
		return User{}, false, nil
	}
	key := strings.ToLower(email)
	c.mu.Lock()
	cu, ok := c.users[key]
	c.mu.Unlock()
	if ok && c.cfg.Now().Sub(cu.at) < c.cfg.UserTTL {
		return cu.u, cu.found, nil
	}
	d, err := c.Deployment(ctx)
	if err != nil {
		return User{}, false, err
	}
	q := url.Values{}
	if d == Cloud {
		q.Set("query", email)
	} else {
		q.Set("username", email)
	}
	var users []struct {
		AccountID    string `json:"accountId"`
		Name         string `json:"name"`
		EmailAddress string `json:"emailAddress"`
		DisplayName  string `json:"displayName"`
		Active       bool   `json:"active"`
	}
	if err := c.do(ctx, "find the user of an email", http.MethodGet, "rest/api/2/user/search?"+q.Encode(), nil, &users); err != nil {
		return User{}, false, err
	}
	var u User
	found := false
	var hidden []User // active users whose email Cloud does not show
	for _, ju := range users {
		id := ju.AccountID
		if d != Cloud {
			id = ju.Name
		}
		if !ju.Active {
			continue
		}
		if ju.EmailAddress == "" && d == Cloud {
			hidden = append(hidden, User{ID: id, DisplayName: ju.DisplayName, Email: email})
			continue
		}
		if strings.EqualFold(ju.EmailAddress, email) {
			u, found = User{ID: id, DisplayName: ju.DisplayName, Email: ju.EmailAddress}, true
			break
		}
	}
	if !found && len(hidden) == 1 {
		// Cloud hides emails by users' privacy settings, but searches by
		// them: one active user answering the email is that user.
		u, found = hidden[0], true
	}
	c.mu.Lock()
	c.users[key] = cachedUser{u: u, found: found, at: c.cfg.Now()}
	c.mu.Unlock()
	return u, found, nil
}

// Myself is the Jira user this client authenticates as (GET
// /rest/api/2/myself), read once: the author of every comment aftermath
// writes.
func (c *Client) Myself(ctx context.Context) (User, error) {
	c.mu.Lock()
	me := c.myself
	c.mu.Unlock()
	if me != nil {
		return *me, nil
	}
	d, err := c.Deployment(ctx)
	if err != nil {
		return User{}, err
	}
	var out struct {
		AccountID    string `json:"accountId"`
		Name         string `json:"name"`
		EmailAddress string `json:"emailAddress"`
		DisplayName  string `json:"displayName"`
	}
	if err := c.do(ctx, "read the user aftermath is", http.MethodGet, "rest/api/2/myself", nil, &out); err != nil {
		return User{}, err
	}
	u := User{ID: out.AccountID, DisplayName: out.DisplayName, Email: out.EmailAddress}
	if d != Cloud {
		u.ID = out.Name
	}
	c.mu.Lock()
	c.myself = &u
	c.mu.Unlock()
	return u, nil
}
