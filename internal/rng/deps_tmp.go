package rng

import (
	_ "github.com/securego/gosec/v2"
	_ "github.com/securego/gosec/v2/rules"
	_ "github.com/sugarme/tokenizer"
	_ "github.com/sugarme/tokenizer/model/bpe"
	_ "github.com/sugarme/tokenizer/pretokenizer"
	_ "github.com/sugarme/tokenizer/decoder"
	_ "github.com/sugarme/tokenizer/pretrained"
	_ "github.com/urfave/cli/v2"
	_ "golang.org/x/tools/go/packages"
	_ "gopkg.in/yaml.v3"
	_ "gorgonia.org/gorgonia"
)
