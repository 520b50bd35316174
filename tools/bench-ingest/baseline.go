package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"
)

type baselineAnswer struct {
	Status string `json:"status"`
}

// serveBaseline is the child process the benchmark compares aftermath with: a
// bare Echo v4 server whose webhook route reads the body and answers 202 with a
// small JSON body. It does no verification, decoding, logging or storage, so
// it is the cost of HTTP and Echo alone on this machine, in this run.
func serveBaseline(addr string) int {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.POST("/webhooks/pagerduty", func(c echo.Context) error {
		if _, err := io.ReadAll(c.Request().Body); err != nil {
			return c.JSON(http.StatusBadRequest, map[string]string{"error": "could not read the request body"})
		}
		return c.JSON(http.StatusAccepted, baselineAnswer{Status: "queued"})
	})
	e.GET("/readyz", func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
	})

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "baseline: listen on %s: %v\n", addr, err)
		return 1
	}
	srv := &http.Server{
		Handler:           e,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	failed := make(chan error, 1)
	go func() { failed <- srv.Serve(ln) }()
	fmt.Fprintf(os.Stderr, "baseline: listening on %s\n", ln.Addr())
	select {
	case <-ctx.Done():
	case err := <-failed:
		if !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(os.Stderr, "baseline: %v\n", err)
			return 1
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		fmt.Fprintf(os.Stderr, "baseline: shutdown: %v\n", err)
		return 1
	}
	fmt.Fprintln(os.Stderr, "baseline: stopped")
	return 0
}
