package experiments

import (
	"bytes"
	"fmt"
	"html/template"
)

// htmlTemplate is report.html: one self-contained page (inline CSS, no
// scripts, no fonts or anything else from the network) showing the SVG
// plots that lie beside it, each linking its PNG.
var htmlTemplate = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem; color: #1b1b1b; line-height: 1.45; }
h1 { border-bottom: 2px solid #ddd; padding-bottom: .3rem; }
h2 { border-bottom: 1px solid #e5e5e5; padding-bottom: .2rem; margin-top: 2.2rem; }
table { border-collapse: collapse; margin: .8rem 0 1.2rem; font-size: .92rem; }
th, td { border: 1px solid #d0d0d0; padding: .3rem .6rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
tr:nth-child(even) td { background: #fafafa; }
td { font-variant-numeric: tabular-nums; }
code { font-family: ui-monospace, Menlo, Consolas, monospace; background: #f2f2f2; padding: 0 .2rem; border-radius: 3px; white-space: pre-wrap; }
figure { margin: 1rem 0 1.5rem; }
figure img { max-width: 100%; height: auto; border: 1px solid #e5e5e5; }
figcaption { color: #555; font-size: .9rem; }
</style>
</head>
<body>
{{range .Blocks}}{{if eq .Kind "h"}}{{if eq .Level 1}}<h1>{{template "spans" .Spans}}</h1>
{{else if eq .Level 2}}<h2>{{template "spans" .Spans}}</h2>
{{else if eq .Level 3}}<h3>{{template "spans" .Spans}}</h3>
{{else}}<h4>{{template "spans" .Spans}}</h4>
{{end}}{{else if eq .Kind "p"}}<p>{{template "spans" .Spans}}</p>
{{else if eq .Kind "table"}}<table>
<thead><tr>{{range .Head}}<th>{{.}}</th>{{end}}</tr></thead>
<tbody>
{{$code := .Code}}{{range .Rows}}<tr>{{range $j, $c := .}}<td>{{if and (index $code $j) (ne $c "") (ne $c "—")}}<code>{{$c}}</code>{{else}}{{$c}}{{end}}</td>{{end}}</tr>
{{end}}</tbody>
</table>
{{else if eq .Kind "img"}}<figure><a href="{{.Src}}.png"><img src="{{.Src}}.svg" alt="{{.Alt}}"></a><figcaption>{{.Alt}}</figcaption></figure>
{{end}}{{end}}</body>
</html>
{{define "spans"}}{{range .}}{{if .Code}}<code>{{.Text}}</code>{{else}}{{.Text}}{{end}}{{end}}{{end}}`))

// html writes the document as a self-contained HTML page.
func (d *doc) html(w *bytes.Buffer) error {
	for _, b := range d.Blocks { // the template indexes Code by column
		for _, row := range b.Rows {
			if len(row) > len(b.Code) {
				return fmt.Errorf("render html: table row has %d cells, header %d", len(row), len(b.Code))
			}
		}
	}
	if err := htmlTemplate.Execute(w, d); err != nil {
		return fmt.Errorf("render html: %w", err)
	}
	return nil
}
