"""Delivery insights: the four DORA measures, read from the portal's own promotion records.

The portal knows when each release was asked into the pipeline (`created_at`), when each promotion
landed in Git (`landed_at`), when it was verified healthy or failed (`finished_at` of a verified or
failed promotion) and which promotions were rollbacks: everything DORA asks for, without a guess.
`query` turns a request into a period, a scope and the stage graph; `records` reads the promotions
in a constant number of queries; `figures` computes the measures from those rows (pure, no
database); `delivery` puts them together per stage, per application and per week; `chart` lays out
the weekly trend. The definitions of every measure are in `figures`.
"""
