# invitation-gateway: the release binary on a distroless base, nothing else.
#
#   docker build -t invitation-gateway .
#
# Stages: `chef` has the toolchain and cargo-chef; `planner` reduces the sources to a recipe of
# the dependencies; `builder` compiles the dependencies from the recipe alone (a layer reused
# until Cargo.toml or Cargo.lock change), then the gateway. The runtime image holds CA
# certificates, glibc and the binary: no shell, no package manager, no secrets (the service
# account key is mounted at run time, see k8s/).

ARG RUST_VERSION=1.95
ARG CARGO_CHEF_VERSION=0.1.78

FROM rust:${RUST_VERSION}-slim-bookworm AS chef
ARG CARGO_CHEF_VERSION
RUN cargo install cargo-chef --locked --version "${CARGO_CHEF_VERSION}"
WORKDIR /app

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /app/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json --bin invitation-gateway
COPY . .
RUN cargo build --release --locked --bin invitation-gateway

# cc: glibc and libgcc for the Rust binary; CA certificates for Google's endpoints.
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
COPY --from=builder /app/target/release/invitation-gateway /usr/local/bin/invitation-gateway
# distroless' nonroot user, by number, so Kubernetes can check runAsNonRoot.
USER 65532:65532
ENV GATEWAY_LISTEN=0.0.0.0:8080 \
    GATEWAY_LOG_FORMAT=json
EXPOSE 8080
# The gateway turns SIGTERM into its drain-then-stop sequence (docs/operating.md: Operations).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/invitation-gateway"]
CMD ["serve"]
