"""A gRPC client for end-to-end tests: makes the calls given as JSON on stdin through a
plaintext HTTP/2 channel (as a sidecar's client would) and prints one JSON result per call:
the status code name, the details (grpc-message) and the response, if any.

Input: {"target": "127.0.0.1:PORT", "calls": [{"method": "/pkg.Svc/Method",
        "token": "…" or null, "body": "…"}]}
Usage: python envoy/grpc_client.py < calls.json   (needs grpcio)
"""
import json
import sys

import grpc


def main():
    spec = json.load(sys.stdin)
    results = []
    with grpc.insecure_channel(spec["target"]) as channel:
        for call in spec["calls"]:
            stub = channel.unary_unary(call["method"])
            metadata = []
            if call.get("token"):
                metadata.append(("authorization", "Bearer " + call["token"]))
            try:
                response = stub(call.get("body", "").encode(), metadata=metadata, timeout=10)
                results.append({"code": "OK", "details": "", "response": json.loads(response)})
            except grpc.RpcError as error:
                results.append({"code": error.code().name, "details": error.details() or "",
                                "response": None})
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
