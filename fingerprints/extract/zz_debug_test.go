package extract

import (
	"context"
	"fmt"
	"os"
	"testing"
)

func TestZZDebugFile(t *testing.T) {
	data, err := os.ReadFile(os.Getenv("ZZFILE"))
	if err != nil {
		t.Skip()
	}
	ctx := context.Background()
	d := newDoc(ctx, TypePDF, Limits{}.withDefaults())
	err = pdfLibText(d, data)
	fmt.Printf("lib err=%v warn=%q\n%s\n----\n", err, d.warnings, d.text.String())
	res, err := Extract(ctx, data, Limits{})
	fmt.Printf("extract err=%v warn=%q images=%d\n", err, res.Warnings, len(res.Images))
}
