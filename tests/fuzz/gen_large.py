"""Writes the large fuzz seeds that are not committed, one directory per
target under the directory given (scripts/fuzz.sh replays them once before
fuzzing; they are not given to the fuzzer as corpus, whose -max_len would
truncate them). Deterministic: the same bytes on every run."""
import json
import os
import sys


def write(root, target, name, data):
    d = os.path.join(root, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass"))


def main(root):
    open_brackets = "[" * 100000
    # payload: 500k one-byte packets (~1 MB), and 500k empty ones
    write(root, "payload", "500k_one_byte_packets", b"\x1e".join([b"6"] * 500000))
    write(root, "payload", "500k_empty_packets", b"\x1e" * 500000)
    write(root, "payload", "1mb_one_b64_packet", b"4x\x1eb" + b"QUJD" * 262144)
    # eio / base64
    write(root, "eio", "4_100k_brackets", "4" + open_brackets)
    write(root, "eio", "b_1mb_base64", b"b" + b"/+9z" * 262144)
    write(root, "base64", "1mb_valid", b"AQID" * 262143 + b"AQ==")
    write(root, "base64", "1mb_invalid_at_end", b"AQID" * 262143 + b"A===")
    # sio: 100000 x '[' as data, a 100000-digit ack id, a long namespace
    write(root, "sio", "2_100k_brackets", "2" + open_brackets)
    write(root, "sio", "ack_id_100k_digits", "3" + "9" * 100000 + "[]")
    write(root, "sio", "attachments_100k_digits", "5" + "9" * 100000 + "-[]")
    write(root, "sio", "namespace_100k", "2/" + "n" * 100000 + ",1[]")
    # jsonscan
    write(root, "jsonscan", "100k_brackets", open_brackets)
    write(root, "jsonscan", "100k_objects", '{"a":' * 100000)
    write(root, "jsonscan", "100k_items", "[" + ",".join(["1"] * 100000) + "]")
    write(root, "jsonscan", "long_escaped_string",
          '"' + "\\ud83d\\ude00\\n\\u00e9x" * 20000 + '"')
    # envelope
    head = '{"method":"emit","event":"x","namespace":"/","data":'
    write(root, "envelope", "data_100k_brackets", head + open_brackets + "}")
    write(root, "envelope", "data_depth_128",
          head + "[" * 127 + "]" * 127 + ',"host_id":"h"}')
    write(root, "envelope", "100k_args", head + "[" + ",".join(["1.5"] * 100000) + "]}")
    write(root, "envelope", "long_unicode_event",
          '{"method":"emit","namespace":"/","data":[null],"event":"'
          + "\\ud83d\\ude00\u00e9\\ud800" * 20000 + '"}')
    write(root, "envelope", "100k_brackets", open_brackets)
    # merge: a long stream of deltas of one key, then a flush, with max_bytes
    # large enough to keep merging
    def delta(i):
        return json.dumps({"chat_id": "c", "message_id": "m", "data": {
            "type": "response:completion", "data": {
                "type": "response.output_text.delta", "item_id": "msg_1",
                "output_index": 0, "content_index": 0, "delta": "tok%d " % i,
                "sequence_number": i}}})
    write(root, "merge", "6000_deltas", "999999\n" + "\n".join(delta(i) for i in range(6000)) + "\nF\n")


if __name__ == "__main__":
    main(sys.argv[1])
