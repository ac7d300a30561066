// A deliberately tiny Markdown renderer for assistant text: fenced code blocks, inline `code`,
// paragraphs and line breaks. Everything else stays literal text; no HTML passes through.
import { el } from "./dom.js";
const FENCE = /^\s*(`{3,}|~{3,})\s*([\w+#.-]*)/;
export function renderMarkdown(text) {
    const out = document.createDocumentFragment();
    const lines = text.replace(/\r\n/g, "\n").split("\n");
    let paragraph = [];
    const flushParagraph = () => {
        if (paragraph.length > 0)
            out.append(renderParagraph(paragraph));
        paragraph = [];
    };
    for (let i = 0; i < lines.length; i++) {
        const line = lines[i] ?? "";
        const fence = FENCE.exec(line);
        if (fence) {
            flushParagraph();
            const marker = fence[1] ?? "```";
            const body = [];
            i++;
            while (i < lines.length && !(lines[i] ?? "").trimStart().startsWith(marker)) {
                body.push(lines[i] ?? "");
                i++;
            }
            const pre = el("pre", "code-block");
            const code = el("code", undefined, body.join("\n"));
            if (fence[2])
                code.dataset.lang = fence[2];
            pre.append(code);
            out.append(pre);
            continue;
        }
        if (line.trim() === "")
            flushParagraph();
        else
            paragraph.push(line);
    }
    flushParagraph();
    return out;
}
function renderParagraph(lines) {
    const p = el("p");
    lines.forEach((line, index) => {
        if (index > 0)
            p.append(el("br"));
        appendInline(p, line);
    });
    return p;
}
/** Splits on single backticks: odd pieces are code spans; an unmatched backtick stays text. */
export function appendInline(parent, line) {
    const pieces = line.split("`");
    if (pieces.length % 2 === 0) {
        parent.append(document.createTextNode(line));
        return;
    }
    pieces.forEach((piece, index) => {
        if (index % 2 === 1)
            parent.append(el("code", "inline-code", piece));
        else if (piece)
            parent.append(document.createTextNode(piece));
    });
}
