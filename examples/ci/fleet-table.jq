# rslim --json documents in (jq -r -s -f fleet-table.jq reports/*.json), one
# tab-separated row per image out, then the fleet's total (pipe to column -t -s "$(printf '\t')").
def mb: if . == null then "-" else "\(. / 1e5 | round / 10) MB" end;
def verify: if .verification then (if .verification.passed then "passed" else "failed" end)
            elif .slim_id then "not run" else "-" end;
(["image", "before", "after", "verify", "result"] | @tsv),
(sort_by(.source_image)[]
 | [.source_image // "?", (.original_bytes | mb), (.slim_bytes | mb), verify,
    (if .error then "\(.error.kind) (exit \(.error.exit_code))" else "ok" end)] | @tsv),
(map(select(.slim_id)) | ["total: \(length) slimmed", (map(.original_bytes) | add | mb),
    (map(.slim_bytes) | add | mb), "", ""] | @tsv)
