// The demo's GitOps repository: one app in a kustomize layout (a base under apps/, a cluster entry under
// clusters/), the way a Flux or Argo CD repo is usually laid out. The Deployment declares 20 replicas and
// opts in with the kube-latch.io/enabled label; kube-latch finds its replicas line by discovery.
export const DEMO_NAMESPACE = 'demo';
export const DEMO_APP = 'web';
export const DECLARED = 20;
/** what GitOps applies: `kubectl apply -k <clone>/clusters/demo` */
export const APPLY_PATH = 'clusters/demo';
export const DEPLOYMENT_FILE = 'apps/web/deployment.yaml';

export const SAMPLE_APP: Readonly<Record<string, string>> = {
  'README.md': `# demo GitOps repository

\`clusters/demo\` is what the cluster runs: a GitOps controller applies it with server-side apply.
\`apps/web\` is the web tier. Its \`spec.replicas\` is a latch point: kube-latch keeps the live count while
it stays in the band of this value, and commits a new round value when the live count has really moved.
`,
  'clusters/demo/kustomization.yaml': `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: ${DEMO_NAMESPACE}
resources:
  - ../../apps/web
`,
  'apps/web/kustomization.yaml': `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - deployment.yaml
  - service.yaml
`,
  [DEPLOYMENT_FILE]: `# The web tier. An autoscaler moves the live replica count; git keeps a round number near it.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${DEMO_APP}
  labels:
    app: ${DEMO_APP}
    kube-latch.io/enabled: "true"   # opt in: the webhook and the watcher only touch labelled workloads
spec:
  replicas: ${DECLARED}   # a latch point on the 1-2-5 ladder
  selector:
    matchLabels:
      app: ${DEMO_APP}
  template:
    metadata:
      labels:
        app: ${DEMO_APP}
    spec:
      containers:
        - name: ${DEMO_APP}
          image: example.invalid/web:1.0   # never pulled: the dev cluster's kwok nodes run no containers
          ports:
            - containerPort: 8080
`,
  'apps/web/service.yaml': `apiVersion: v1
kind: Service
metadata:
  name: ${DEMO_APP}
spec:
  selector:
    app: ${DEMO_APP}
  ports:
    - port: 80
      targetPort: 8080
`,
};
