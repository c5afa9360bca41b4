package extract

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"regexp"
	"strings"
	"unicode/utf8"
)

// sniffLen is how much of the head Sniff looks at.
const sniffLen = 4096

// Sniff classifies a document from its first bytes (up to 4096 are used).
// It never looks at a name. Zip-based office formats need the central
// directory to tell apart reliably: use SniffAll when the whole file is at
// hand; Sniff recognises them only from the leading local headers.
func Sniff(head []byte) Type {
	if len(head) > sniffLen {
		head = head[:sniffLen]
	}
	return sniff(head, false)
}

// SniffAll classifies a whole document, including OOXML and ODF detection
// inside zip containers ([Content_Types].xml parts, the ODF mimetype member).
func SniffAll(data []byte) Type {
	head := data[:min(len(data), sniffLen)]
	t := sniff(head, len(data) <= sniffLen)
	if t == TypeZIP || t == TypeDOCX || t == TypeXLSX || t == TypePPTX || t == TypeODT || t == TypeODS || t == TypeODP {
		if zt := classifyZip(data); zt != "" {
			return zt
		}
		return t // central directory unreadable or over the cap: keep the head's guess
	}
	return t
}

func sniff(head []byte, complete bool) Type {
	if t := sniffMagic(head); t != "" {
		return t
	}
	return sniffText(head, complete)
}

func sniffMagic(b []byte) Type {
	has := func(off int, magic string) bool {
		return len(b) >= off+len(magic) && string(b[off:off+len(magic)]) == magic
	}
	switch {
	case has(0, "%PDF-"):
		return TypePDF
	case has(0, "PK\x03\x04"):
		return sniffZipHead(b)
	case has(0, "PK\x05\x06"), has(0, "PK\x07\x08"):
		return TypeZIP
	case has(0, "\x1f\x8b"):
		return TypeGzip
	case has(0, "BZh") && len(b) > 3 && b[3] >= '1' && b[3] <= '9':
		return TypeBzip2
	case has(0, "\xfd7zXZ\x00"):
		return TypeXZ
	case has(0, "\x28\xb5\x2f\xfd"):
		return TypeZstd
	case has(0, "7z\xbc\xaf\x27\x1c"):
		return Type7z
	case has(0, "Rar!\x1a\x07"):
		return TypeRAR
	case has(257, "ustar"):
		return TypeTar
	case has(0, "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
		return TypeOLE
	case has(0, "{\\rtf"):
		return TypeRTF
	case has(0, "\xff\xd8\xff"):
		return TypeJPEG
	case has(0, "\x89PNG\r\n\x1a\n"):
		return TypePNG
	case has(0, "GIF87a"), has(0, "GIF89a"):
		return TypeGIF
	case has(0, "RIFF") && has(8, "WEBP"):
		return TypeWEBP
	case has(0, "II*\x00"), has(0, "MM\x00*"):
		return TypeTIFF
	case looksBMP(b):
		return TypeBMP
	}
	// A PDF may carry junk before its header (PDF 32000 allows it within
	// the first 1024 bytes; readers accept it).
	if i := bytes.Index(b[:min(len(b), 1024)], []byte("%PDF-")); i > 0 {
		return TypePDF
	}
	return ""
}

// looksBMP checks more than "BM", which starts ordinary words too.
func looksBMP(b []byte) bool {
	if len(b) < 26 || b[0] != 'B' || b[1] != 'M' {
		return false
	}
	if binary.LittleEndian.Uint32(b[6:10]) != 0 { // reserved
		return false
	}
	switch binary.LittleEndian.Uint32(b[14:18]) { // DIB header size
	case 12, 40, 52, 56, 64, 108, 124:
		return true
	}
	return false
}

// sniffZipHead walks the local file headers present in head: ODF stores its
// "mimetype" member first and uncompressed; OOXML writers put their parts'
// names near the start.
func sniffZipHead(b []byte) Type {
	off := 0
	for i := 0; i < 64 && off+30 <= len(b); i++ {
		if string(b[off:off+4]) != "PK\x03\x04" {
			break
		}
		flags := binary.LittleEndian.Uint16(b[off+6:])
		method := binary.LittleEndian.Uint16(b[off+8:])
		csize := int(binary.LittleEndian.Uint32(b[off+18:]))
		nlen := int(binary.LittleEndian.Uint16(b[off+26:]))
		elen := int(binary.LittleEndian.Uint16(b[off+28:]))
		nameStart := off + 30
		if nameStart+nlen > len(b) {
			break
		}
		name := string(b[nameStart : nameStart+nlen])
		dataStart := nameStart + nlen + elen
		if name == "mimetype" && method == 0 && dataStart <= len(b) {
			n := csize
			if flags&0x8 != 0 && n == 0 {
				n = 128 // size in a data descriptor: odfType matches by prefix
			}
			end := min(len(b), dataStart+n, dataStart+128)
			if t := odfType(string(b[dataStart:end])); t != "" {
				return t
			}
		}
		if t := ooxmlTypeFromName(name); t != "" {
			return t
		}
		if flags&0x8 != 0 {
			// Sizes follow the data: look for the next local header.
			next := bytes.Index(b[min(dataStart, len(b)):], []byte("PK\x03\x04"))
			if next < 0 {
				break
			}
			off = dataStart + next
			continue
		}
		off = dataStart + csize
	}
	return TypeZIP
}

func odfType(mimetype string) Type {
	mimetype = strings.TrimSpace(mimetype)
	switch {
	case strings.HasPrefix(mimetype, "application/vnd.oasis.opendocument.text"):
		return TypeODT
	case strings.HasPrefix(mimetype, "application/vnd.oasis.opendocument.spreadsheet"):
		return TypeODS
	case strings.HasPrefix(mimetype, "application/vnd.oasis.opendocument.presentation"):
		return TypeODP
	}
	return ""
}

func ooxmlTypeFromName(name string) Type {
	switch {
	case name == "word/document.xml":
		return TypeDOCX
	case name == "xl/workbook.xml":
		return TypeXLSX
	case name == "ppt/presentation.xml":
		return TypePPTX
	}
	return ""
}

// classifyZip opens the central directory (after the entry-count guard) and
// looks for OOXML parts and the ODF mimetype member.
func classifyZip(data []byte) Type {
	zr, err := openZip(data)
	if err != nil {
		return ""
	}
	var contentTypes bool
	var found Type
	for _, f := range zr.File {
		switch {
		case f.Name == "[Content_Types].xml":
			contentTypes = true
		case f.Name == "mimetype" && f.UncompressedSize64 < 256:
			b, err := readZipMember(f, 256)
			if err == nil {
				if t := odfType(string(b)); t != "" {
					return t
				}
			}
		default:
			if t := ooxmlTypeFromName(f.Name); t != "" && found == "" {
				found = t
			}
		}
	}
	if contentTypes && found != "" {
		return found
	}
	return TypeZIP
}

// sniffText classifies text formats. complete says head is the whole file,
// so a JSON or CSV check may treat its end as the end of data.
func sniffText(head []byte, complete bool) Type {
	s, ok := decodeHeadText(head, complete)
	if !ok {
		return TypeUnknown
	}
	trimmed := strings.TrimLeft(s, " \t\r\n\f")
	lower := strings.ToLower(s)
	switch {
	case looksEML(s):
		return TypeEML
	case strings.HasPrefix(trimmed, "<"):
		if hasHTMLTag(lower) || strings.HasPrefix(strings.ToLower(trimmed), "<!doctype html") {
			return TypeHTML
		}
		if strings.HasPrefix(trimmed, "<?xml") || looksXMLStart(trimmed) {
			return TypeXML
		}
	case strings.HasPrefix(trimmed, "{") || strings.HasPrefix(trimmed, "["):
		if looksJSON(trimmed, complete) {
			return TypeJSON
		}
	}
	switch {
	case looksSQL(s, lower):
		return TypeSQL
	case hasHTMLTag(lower):
		return TypeHTML
	case sniffDelimiter(s, complete) != 0:
		return TypeCSV
	}
	return TypeText
}

// decodeHeadText turns the head into a string if it looks like text: UTF-8
// (a sequence cut by the head's end is fine), UTF-16 with a BOM, or a
// single-byte encoding with few control characters.
func decodeHeadText(head []byte, complete bool) (string, bool) {
	if len(head) == 0 {
		return "", false
	}
	if enc, bomLen := utf16BOM(head); enc != nil {
		b := head[bomLen:]
		if !complete && len(b)%2 == 1 {
			b = b[:len(b)-1]
		}
		s := decodeUTF16(b, enc == binary.ByteOrder(binary.BigEndian))
		return s, mostlyPrintable(s)
	}
	head = bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
	if bytes.IndexByte(head, 0) >= 0 {
		return "", false
	}
	valid := head
	if !complete {
		// Drop a multi-byte sequence cut off by the head's end.
		for i := 0; i < 3 && len(valid) > 0 && !utf8.Valid(valid); i++ {
			valid = valid[:len(valid)-1]
		}
	}
	s := string(valid)
	if !utf8.ValidString(s) {
		s = string(head) // single-byte text: count only control bytes
	}
	return s, mostlyPrintable(s)
}

// mostlyPrintable allows at most 1 in 50 control characters (other than
// common white space and form feed).
func mostlyPrintable(s string) bool {
	ctrl, n := 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		n++
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != '\v' && c != 0x1b {
			ctrl++
		}
		if c == 0x7f {
			ctrl++
		}
	}
	return n > 0 && ctrl*50 <= n
}

var htmlTagRe = regexp.MustCompile(`<(html|body|head|div|table|p|br|span|meta|title|h[1-6]|ul|ol|li|td|tr|a|font|center|form)[\s>/]`)

func hasHTMLTag(lower string) bool {
	return htmlTagRe.MatchString(lower)
}

var xmlStartRe = regexp.MustCompile(`^<[A-Za-z_][\w.:-]*[\s>/]`)

func looksXMLStart(s string) bool {
	return xmlStartRe.MatchString(s) && strings.Contains(s, ">")
}

// looksJSON runs the JSON tokenizer over the head: a syntax error means no;
// running out of input in a truncated head is fine.
func looksJSON(s string, complete bool) bool {
	dec := json.NewDecoder(strings.NewReader(s))
	tokens := 0
	for tokens < 4096 {
		_, err := dec.Token()
		if err == io.EOF {
			return tokens > 0
		}
		if err != nil {
			return !complete && tokens >= 2 && errors.Is(err, io.ErrUnexpectedEOF)
		}
		tokens++
	}
	return true
}

var sqlRe = regexp.MustCompile(`(?is)\binsert\s+into\s+[\w` + "`" + `"\[\].]+\s*(\([^)]*\)\s*)?values\s*\(|\bcopy\s+[\w".]+\s*(\([^)]*\)\s*)?from\s+stdin\b|^\s*--\s*(mysql|mariadb|postgresql database) dump`)

// looksSQL reports whether s is a SQL dump. lower is s in lower case; every
// form sqlRe knows contains one of three words, which is far cheaper to
// rule out than the backtracking regexp on every text file.
func looksSQL(s, lower string) bool {
	if !strings.Contains(lower, "insert") && !strings.Contains(lower, "copy") && !strings.Contains(lower, "dump") {
		return false
	}
	return sqlRe.MatchString(s)
}

// knownHeader lists header fields that mark a mail message.
func knownHeader(name string) bool {
	switch name {
	case "from", "to", "cc", "bcc", "subject", "date", "received", "mime-version",
		"message-id", "return-path", "content-type", "content-transfer-encoding",
		"delivered-to", "reply-to", "sender", "in-reply-to", "references",
		"dkim-signature", "authentication-results", "user-agent", "thread-topic",
		"thread-index", "received-spf", "importance":
		return true
	}
	return strings.HasPrefix(name, "x-") || strings.HasPrefix(name, "arc-")
}

// looksEML wants RFC 5322 header lines up to a blank line, starting with a
// known header and with at least two known ones. An mbox "From " line may
// come first.
func looksEML(s string) bool {
	if strings.HasPrefix(s, "From ") {
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			s = s[i+1:]
		}
	}
	known, lines := 0, 0
	for s != "" {
		var line string
		line, s, _ = strings.Cut(s, "\n")
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			return known >= 2
		}
		if line[0] == ' ' || line[0] == '\t' {
			if lines == 0 {
				return false
			}
			continue // folded continuation
		}
		colon := strings.IndexByte(line, ':')
		if colon <= 0 {
			return false
		}
		name := strings.ToLower(line[:colon])
		for j := 0; j < len(name); j++ {
			if name[j] <= ' ' || name[j] > '~' {
				return false
			}
		}
		isKnown := knownHeader(name)
		if lines == 0 && !isKnown {
			return false
		}
		if isKnown {
			known++
		}
		lines++
	}
	// The head ended inside the header block.
	return known >= 3
}

// sniffDelimiter returns the CSV delimiter if the first records split into
// the same number of fields with it, or 0. Quotes are honoured, so quoted
// newlines and delimiters do not count.
func sniffDelimiter(s string, complete bool) rune {
	if !complete {
		if i := strings.LastIndexByte(s, '\n'); i >= 0 {
			s = s[:i] // drop the line the head cut
		}
	}
	var best rune
	bestCount := 0
	for _, delim := range []rune{',', '\t', ';', '|'} {
		counts := delimiterCounts(s, delim, 50)
		if len(counts) < 2 {
			continue
		}
		c := counts[0]
		consistent := c >= 1
		for _, x := range counts[1:] {
			if x != c {
				consistent = false
				break
			}
		}
		if !consistent {
			continue
		}
		// One comma per line in two lines is as likely prose as data, and
		// so is ", " or "; " (fields rarely start with a space).
		if delim == ',' && c == 1 && len(counts) < 3 {
			continue
		}
		if (delim == ',' || delim == ';') && proseDelimiter(s, delim) {
			continue
		}
		if c > bestCount {
			best, bestCount = delim, c
		}
	}
	return best
}

// proseDelimiter reports whether most occurrences of delim (outside
// quotes) are followed by a space, as in prose.
func proseDelimiter(s string, delim rune) bool {
	total, spaced := 0, 0
	inQuote := false
	for i := 0; i < len(s) && total < 1000; i++ {
		switch c := rune(s[i]); {
		case c == '"':
			inQuote = !inQuote
		case c == delim && !inQuote:
			total++
			if i+1 < len(s) && s[i+1] == ' ' {
				spaced++
			}
		}
	}
	return total > 0 && spaced*2 > total
}

// delimiterCounts counts delim outside quotes per record for up to max
// non-empty records.
func delimiterCounts(s string, delim rune, max int) []int {
	var counts []int
	inQuote := false
	n, empty := 0, true
	for _, r := range s {
		switch {
		case r == '"':
			inQuote = !inQuote
			empty = false
		case r == delim && !inQuote:
			n++
			empty = false
		case r == '\n' && !inQuote:
			if !empty {
				counts = append(counts, n)
				if len(counts) >= max {
					return counts
				}
			}
			n, empty = 0, true
		case r != '\r' && r != ' ' && r != '\t':
			empty = false
		}
	}
	if !empty && !inQuote {
		counts = append(counts, n)
	}
	return counts
}
