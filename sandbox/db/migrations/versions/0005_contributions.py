"""contributions: a data holder's consent to add its own dataset to secure sums under a grant

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa
import sandbox.db.base


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('contributions',
    sa.Column('grant_id', sa.Uuid(), nullable=False),
    sa.Column('dataset_id', sa.Uuid(), nullable=False),
    sa.Column('org_id', sa.Uuid(), nullable=False),
    sa.Column('columns', sa.JSON(), nullable=False),
    sa.Column('consented_by', sa.Uuid(), nullable=False),
    sa.Column('consented_at', sandbox.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('withdrawn_at', sandbox.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['consented_by'], ['users.id'], name=op.f('fk_contributions_consented_by_users')),
    sa.ForeignKeyConstraint(['dataset_id'], ['datasets.id'], name=op.f('fk_contributions_dataset_id_datasets')),
    sa.ForeignKeyConstraint(['grant_id'], ['grants.id'], name=op.f('fk_contributions_grant_id_grants')),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_contributions_org_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contributions')),
    sa.UniqueConstraint('grant_id', 'dataset_id', name=op.f('uq_contributions_grant_id_dataset_id'))
    )
    with op.batch_alter_table('contributions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contributions_grant_id'), ['grant_id'], unique=False)


def downgrade() -> None:
    op.drop_table('contributions')
