//go:build chaos

package chaos

import (
	"fmt"
	"os"
	"strings"
	"sync"
)

// Report collects the figures of a run as markdown sections, one per
// scenario, and rewrites its file after every addition, so that a run cut
// short still leaves the figures of the scenarios it finished.
type Report struct {
	mu       sync.Mutex
	path     string // "" keeps the report in memory
	header   string
	order    []string
	sections map[string]*section
}

type section struct {
	title string
	intro string
	cols  []string
	rows  [][]string
	notes []string
}

// NewReport starts a report written to path ("" for none). header goes on
// top, after the generated-file banner.
func NewReport(path, header string) *Report {
	return &Report{path: path, header: header, sections: map[string]*section{}}
}

// Table declares section key with a title, a paragraph under it and the
// columns of its table. Declaring it again changes nothing.
func (r *Report) Table(key, title, intro string, cols ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.sections[key]; ok {
		return
	}
	r.order = append(r.order, key)
	r.sections[key] = &section{title: title, intro: intro, cols: cols}
}

// Row adds a row to section key and rewrites the file.
func (r *Report) Row(key string, cells ...string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.sections[key]
	if s == nil {
		return fmt.Errorf("chaos: report section %q not declared", key)
	}
	s.rows = append(s.rows, cells)
	return r.writeLocked()
}

// Note adds a line of text under section key's table and rewrites the file.
func (r *Report) Note(key, text string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.sections[key]
	if s == nil {
		return fmt.Errorf("chaos: report section %q not declared", key)
	}
	s.notes = append(s.notes, text)
	return r.writeLocked()
}

// Markdown renders the report.
func (r *Report) Markdown() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.markdownLocked()
}

func (r *Report) markdownLocked() string {
	var b strings.Builder
	b.WriteString(r.header)
	for _, key := range r.order {
		s := r.sections[key]
		fmt.Fprintf(&b, "\n## %s\n\n", s.title)
		if s.intro != "" {
			b.WriteString(s.intro + "\n\n")
		}
		if len(s.cols) == 0 {
			// a prose section: no table
		} else if len(s.rows) > 0 {
			b.WriteString("| " + strings.Join(s.cols, " | ") + " |\n")
			b.WriteString("|" + strings.Repeat(" --- |", len(s.cols)) + "\n")
			for _, row := range s.rows {
				b.WriteString("| " + strings.Join(row, " | ") + " |\n")
			}
		} else {
			b.WriteString("_(not run)_\n")
		}
		if len(s.notes) > 0 {
			b.WriteString("\n")
			for _, n := range s.notes {
				b.WriteString(n + "\n")
			}
		}
	}
	return b.String()
}

func (r *Report) writeLocked() error {
	if r.path == "" {
		return nil
	}
	tmp := r.path + ".tmp"
	if err := os.WriteFile(tmp, []byte(r.markdownLocked()), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, r.path)
}
