"""`catalogue init`: a catalogue inferred from what a GitOps repository already says.

Argo CD Applications and ApplicationSets, Flux Kustomizations and HelmReleases, kustomize
overlays and Helm values per environment name each application's files per stage; this package
reads them (`tree`), finds the stages and the files that hold versions (`evidence`, `kustomize`,
`helm`, `argocd`, `flux`), and writes a commented catalogue (`catalogue`). It reads a tree and
writes text: cloning and checking the result against a real matrix read happen a layer above
(`promotions.matrix.preview`).
"""
