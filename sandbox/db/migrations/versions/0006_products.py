"""products: data products, versions and reviews, subscriptions, enterprises' authorizations
(digests only), calls (usage), ratings and correction tickets

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa
import sandbox.db.base


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('enterprise_authorizations',
    sa.Column('consumer_id', sa.Uuid(), nullable=False),
    sa.Column('reference', sa.String(length=64), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('valid_until', sandbox.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('registered_by', sa.Uuid(), nullable=False),
    sa.Column('registered_at', sandbox.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sandbox.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_by', sa.Uuid(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['consumer_id'], ['organizations.id'], name=op.f('fk_enterprise_authorizations_consumer_id_organizations')),
    sa.ForeignKeyConstraint(['registered_by'], ['users.id'], name=op.f('fk_enterprise_authorizations_registered_by_users')),
    sa.ForeignKeyConstraint(['revoked_by'], ['users.id'], name=op.f('fk_enterprise_authorizations_revoked_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_enterprise_authorizations')),
    sa.UniqueConstraint('consumer_id', 'reference', name=op.f('uq_enterprise_authorizations_consumer_id_reference'))
    )
    with op.batch_alter_table('enterprise_authorizations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_enterprise_authorizations_consumer_id'), ['consumer_id'], unique=False)

    op.create_table('products',
    sa.Column('slug', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('operator_id', sa.Uuid(), nullable=False),
    sa.Column('license_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('created_at', sandbox.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.Uuid(), nullable=False),
    sa.Column('listed_version', sa.Integer(), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_products_created_by_users')),
    sa.ForeignKeyConstraint(['license_id'], ['licenses.id'], name=op.f('fk_products_license_id_licenses')),
    sa.ForeignKeyConstraint(['operator_id'], ['organizations.id'], name=op.f('fk_products_operator_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_products')),
    sa.UniqueConstraint('slug', name=op.f('uq_products_slug'))
    )
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_products_operator_id'), ['operator_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_products_state'), ['state'], unique=False)

    op.create_table('correction_tickets',
    sa.Column('product_id', sa.Uuid(), nullable=False),
    sa.Column('consumer_id', sa.Uuid(), nullable=False),
    sa.Column('provider_id', sa.Uuid(), nullable=False),
    sa.Column('dataset_id', sa.Uuid(), nullable=False),
    sa.Column('subject', sa.String(length=18), nullable=False),
    sa.Column('field', sa.String(length=64), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('due_at', sandbox.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('answer', sa.Text(), nullable=True),
    sa.Column('answered_at', sandbox.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('answered_by', sa.Uuid(), nullable=True),
    sa.Column('filed_by', sa.Uuid(), nullable=False),
    sa.Column('filed_at', sandbox.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['answered_by'], ['users.id'], name=op.f('fk_correction_tickets_answered_by_users')),
    sa.ForeignKeyConstraint(['consumer_id'], ['organizations.id'], name=op.f('fk_correction_tickets_consumer_id_organizations')),
    sa.ForeignKeyConstraint(['dataset_id'], ['datasets.id'], name=op.f('fk_correction_tickets_dataset_id_datasets')),
    sa.ForeignKeyConstraint(['filed_by'], ['users.id'], name=op.f('fk_correction_tickets_filed_by_users')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_correction_tickets_product_id_products')),
    sa.ForeignKeyConstraint(['provider_id'], ['organizations.id'], name=op.f('fk_correction_tickets_provider_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_correction_tickets'))
    )
    with op.batch_alter_table('correction_tickets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_correction_tickets_consumer_id'), ['consumer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_correction_tickets_product_id'), ['product_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_correction_tickets_provider_id'), ['provider_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_correction_tickets_state'), ['state'], unique=False)

    op.create_table('product_versions',
    sa.Column('product_id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('spec', sa.JSON(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('submitted_at', sandbox.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('decided_at', sandbox.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', sandbox.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_product_versions_product_id_products')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_product_versions')),
    sa.UniqueConstraint('product_id', 'version', name=op.f('uq_product_versions_product_id_version'))
    )
    with op.batch_alter_table('product_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_product_versions_product_id'), ['product_id'], unique=False)

    op.create_table('ratings',
    sa.Column('product_id', sa.Uuid(), nullable=False),
    sa.Column('consumer_id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('stars', sa.Integer(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('at', sandbox.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['consumer_id'], ['organizations.id'], name=op.f('fk_ratings_consumer_id_organizations')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_ratings_product_id_products')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_ratings_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ratings')),
    sa.UniqueConstraint('product_id', 'consumer_id', name=op.f('uq_ratings_product_id_consumer_id'))
    )
    with op.batch_alter_table('ratings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ratings_product_id'), ['product_id'], unique=False)

    op.create_table('subscriptions',
    sa.Column('product_id', sa.Uuid(), nullable=False),
    sa.Column('consumer_id', sa.Uuid(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('accepted_version', sa.Integer(), nullable=False),
    sa.Column('calls_per_month', sa.Integer(), nullable=False),
    sa.Column('identifiers_per_month', sa.Integer(), nullable=False),
    sa.Column('requested_by', sa.Uuid(), nullable=False),
    sa.Column('requested_at', sandbox.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_by', sa.Uuid(), nullable=True),
    sa.Column('decided_at', sandbox.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['consumer_id'], ['organizations.id'], name=op.f('fk_subscriptions_consumer_id_organizations')),
    sa.ForeignKeyConstraint(['decided_by'], ['users.id'], name=op.f('fk_subscriptions_decided_by_users')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_subscriptions_product_id_products')),
    sa.ForeignKeyConstraint(['requested_by'], ['users.id'], name=op.f('fk_subscriptions_requested_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscriptions'))
    )
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subscriptions_consumer_id'), ['consumer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_subscriptions_product_id'), ['product_id'], unique=False)

    op.create_table('product_calls',
    sa.Column('product_id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('subscription_id', sa.Uuid(), nullable=False),
    sa.Column('consumer_id', sa.Uuid(), nullable=False),
    sa.Column('caller', sa.Uuid(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('job_ids', sa.JSON(), nullable=False),
    sa.Column('input_dataset_id', sa.Uuid(), nullable=False),
    sa.Column('identifiers', sa.Integer(), nullable=False),
    sa.Column('matched', sa.Integer(), nullable=False),
    sa.Column('unauthorized', sa.Integer(), nullable=False),
    sa.Column('rejected', sa.Integer(), nullable=False),
    sa.Column('compute_seconds', sa.Double(), nullable=False),
    sa.Column('charge_fen', sa.Integer(), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('created_at', sandbox.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('settled_at', sandbox.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('refusal_code', sa.String(length=64), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['caller'], ['users.id'], name=op.f('fk_product_calls_caller_users')),
    sa.ForeignKeyConstraint(['consumer_id'], ['organizations.id'], name=op.f('fk_product_calls_consumer_id_organizations')),
    sa.ForeignKeyConstraint(['input_dataset_id'], ['datasets.id'], name=op.f('fk_product_calls_input_dataset_id_datasets')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_product_calls_product_id_products')),
    sa.ForeignKeyConstraint(['subscription_id'], ['subscriptions.id'], name=op.f('fk_product_calls_subscription_id_subscriptions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_product_calls'))
    )
    with op.batch_alter_table('product_calls', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_product_calls_consumer_id'), ['consumer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_product_calls_period'), ['period'], unique=False)
        batch_op.create_index(batch_op.f('ix_product_calls_product_id'), ['product_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_product_calls_state'), ['state'], unique=False)
        batch_op.create_index(batch_op.f('ix_product_calls_subscription_id'), ['subscription_id'], unique=False)

    op.create_table('product_reviews',
    sa.Column('version_id', sa.Uuid(), nullable=False),
    sa.Column('org_id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('decision', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('at', sandbox.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_product_reviews_org_id_organizations')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_product_reviews_user_id_users')),
    sa.ForeignKeyConstraint(['version_id'], ['product_versions.id'], name=op.f('fk_product_reviews_version_id_product_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_product_reviews')),
    sa.UniqueConstraint('version_id', 'org_id', name=op.f('uq_product_reviews_version_id_org_id'))
    )
    with op.batch_alter_table('product_reviews', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_product_reviews_version_id'), ['version_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('product_reviews', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_product_reviews_version_id'))

    op.drop_table('product_reviews')
    with op.batch_alter_table('product_calls', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_product_calls_subscription_id'))
        batch_op.drop_index(batch_op.f('ix_product_calls_state'))
        batch_op.drop_index(batch_op.f('ix_product_calls_product_id'))
        batch_op.drop_index(batch_op.f('ix_product_calls_period'))
        batch_op.drop_index(batch_op.f('ix_product_calls_consumer_id'))

    op.drop_table('product_calls')
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subscriptions_product_id'))
        batch_op.drop_index(batch_op.f('ix_subscriptions_consumer_id'))

    op.drop_table('subscriptions')
    with op.batch_alter_table('ratings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ratings_product_id'))

    op.drop_table('ratings')
    with op.batch_alter_table('product_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_product_versions_product_id'))

    op.drop_table('product_versions')
    with op.batch_alter_table('correction_tickets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_correction_tickets_state'))
        batch_op.drop_index(batch_op.f('ix_correction_tickets_provider_id'))
        batch_op.drop_index(batch_op.f('ix_correction_tickets_product_id'))
        batch_op.drop_index(batch_op.f('ix_correction_tickets_consumer_id'))

    op.drop_table('correction_tickets')
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_products_state'))
        batch_op.drop_index(batch_op.f('ix_products_operator_id'))

    op.drop_table('products')
    with op.batch_alter_table('enterprise_authorizations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_enterprise_authorizations_consumer_id'))

    op.drop_table('enterprise_authorizations')
