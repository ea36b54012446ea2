"""Generated protobuf and gRPC code for precisionpain.v1 (proto/precisionpain/v1). Do not edit."""
