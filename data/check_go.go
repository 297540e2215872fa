package data

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"strings"
)

// checkGoFunc grades the go-function family. key is the reference source of
// one function; the answer must be the source of exactly one function (a
// ```go fence around it is allowed) whose syntax tree equals the key's,
// ignoring formatting, comments, the names of parameters, results and local
// variables, and whether parameters of one type share a declaration
// ("a, b int" or "a int, b int"). The function's own name must match.
func checkGoFunc(key, answer string) Grade {
	want, ok := goFuncShape(key)
	if !ok {
		return GradeWrong
	}
	got, ok := goFuncShape(answer)
	return grade(ok && got == want)
}

// stripCodeFence removes a Markdown code fence around s, if there is one.
func stripCodeFence(s string) string {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "```") {
		return s
	}
	nl := strings.IndexByte(s, '\n')
	if nl < 0 {
		return ""
	}
	s = strings.TrimSpace(s[nl+1:])
	s = strings.TrimSuffix(s, "```")
	return strings.TrimSpace(s)
}

// goFuncShape parses src as one Go function declaration and returns a
// canonical serialization of its syntax tree, or false when src is not
// exactly one function.
func goFuncShape(src string) (string, bool) {
	src = stripCodeFence(src)
	if src == "" || strings.HasPrefix(src, "package") {
		return "", false
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "answer.go", "package p\n\n"+src+"\n", parser.SkipObjectResolution)
	if err != nil || len(f.Decls) != 1 || len(f.Imports) != 0 {
		return "", false
	}
	fd, ok := f.Decls[0].(*ast.FuncDecl)
	if !ok || fd.Body == nil {
		return "", false
	}
	splitFieldNames(fd.Type.Params)
	splitFieldNames(fd.Type.Results)

	// Name the locals v0, v1, ... in order of declaration.
	locals := map[string]string{}
	declare := func(e ast.Expr) {
		id, ok := e.(*ast.Ident)
		if !ok || id.Name == "_" {
			return
		}
		if _, seen := locals[id.Name]; !seen {
			locals[id.Name] = "v" + strconv.Itoa(len(locals))
		}
	}
	for _, fl := range []*ast.FieldList{fd.Type.Params, fd.Type.Results} {
		if fl == nil {
			continue
		}
		for _, fld := range fl.List {
			for _, n := range fld.Names {
				declare(n)
			}
		}
	}
	ast.Inspect(fd.Body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.AssignStmt:
			if n.Tok == token.DEFINE {
				for _, e := range n.Lhs {
					declare(e)
				}
			}
		case *ast.RangeStmt:
			if n.Tok == token.DEFINE {
				declare(n.Key)
				declare(n.Value)
			}
		case *ast.ValueSpec:
			for _, id := range n.Names {
				declare(id)
			}
		}
		return true
	})

	var b strings.Builder
	ast.Inspect(fd, func(n ast.Node) bool {
		if n == nil {
			b.WriteByte(')')
			return true
		}
		fmt.Fprintf(&b, "(%T", n)
		switch n := n.(type) {
		case *ast.Ident:
			name := n.Name
			if v, ok := locals[name]; ok && n != fd.Name {
				name = v
			}
			b.WriteString(" " + name)
		case *ast.BasicLit:
			b.WriteString(" " + n.Kind.String() + " " + n.Value)
		case *ast.BinaryExpr:
			b.WriteString(" " + n.Op.String())
		case *ast.UnaryExpr:
			b.WriteString(" " + n.Op.String())
		case *ast.AssignStmt:
			b.WriteString(" " + n.Tok.String())
		case *ast.IncDecStmt:
			b.WriteString(" " + n.Tok.String())
		case *ast.BranchStmt:
			b.WriteString(" " + n.Tok.String())
		case *ast.RangeStmt:
			b.WriteString(" " + n.Tok.String())
		case *ast.GenDecl:
			b.WriteString(" " + n.Tok.String())
		case *ast.ChanType:
			b.WriteString(" " + strconv.Itoa(int(n.Dir)))
		}
		return true
	})
	return b.String(), true
}

// splitFieldNames rewrites "a, b int" as "a int, b int" in place.
func splitFieldNames(fl *ast.FieldList) {
	if fl == nil {
		return
	}
	var out []*ast.Field
	for _, f := range fl.List {
		if len(f.Names) <= 1 {
			out = append(out, f)
			continue
		}
		for _, n := range f.Names {
			out = append(out, &ast.Field{Names: []*ast.Ident{n}, Type: f.Type, Tag: f.Tag})
		}
	}
	fl.List = out
}
